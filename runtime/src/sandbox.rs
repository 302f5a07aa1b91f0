//! The process sandbox: whether each container (a RUN step included) gets
//! a PID namespace and a `/proc` of its own.
//!
//! A fresh `/proc` is refused by the kernel where parts of the outer one
//! are covered (a container's masked paths, a Kubernetes pod without
//! `procMount: Unmasked`). There kiln can run with the sandbox off, as
//! BuildKit's `--oci-worker-no-process-sandbox` does: containers share
//! kiln's PID namespace and see its `/proc` bound in, so they can see and
//! signal kiln, its helpers and one another. The choice is made once per
//! kiln process, by its caller, and never silently.

use std::sync::atomic::{AtomicBool, Ordering};

static OFF: AtomicBool = AtomicBool::new(false);

/// Turns the process sandbox off for every container this process makes
/// from now on (the choice is written into each one's spec).
pub fn turn_off() {
    OFF.store(true, Ordering::Relaxed);
}

/// Whether containers get their own PID namespace and `/proc`.
pub fn on() -> bool {
    !OFF.load(Ordering::Relaxed)
}
