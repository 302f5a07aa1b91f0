//! Named points where a test can make kiln die as if SIGKILLed, to prove
//! that a crash at that instant leaves a store that `kiln cache check`
//! passes. `KILN_TEST_CRASH_AT=<name>` dies at the first pass through the
//! point, `<name>#<n>` at the n-th (the third blob of a load). Unset, a
//! point costs one comparison. Not a user feature: undocumented in `--help`.
//!
//! A stop point (`KILN_TEST_STOP_AT=<name>`) stops kiln there with
//! SIGSTOP instead, so a test can run another kiln in that instant (a
//! prune racing a container's creation) and then let it go on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

const ENV: &str = "KILN_TEST_CRASH_AT";
const STOP_ENV: &str = "KILN_TEST_STOP_AT";

/// Dies with SIGKILL here if `KILN_TEST_CRASH_AT` names this point.
pub fn crash_point(name: &str) {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| std::env::var(ENV).ok().map(|v| parse(&v)));
    let Some((point, nth)) = target else { return };
    if point != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != *nth {
        return;
    }
    // SIGKILL, not abort or exit: no destructor, no flush, no unlock runs,
    // exactly as when the kernel or a user kills the process.
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    std::process::abort();
}

/// Stops this process (SIGSTOP) the first time it passes here if
/// `KILN_TEST_STOP_AT` names this point; it goes on when sent SIGCONT.
pub fn stop_point(name: &str) {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    let target = TARGET.get_or_init(|| std::env::var(STOP_ENV).ok());
    if target.as_deref() == Some(name) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}

fn parse(value: &str) -> (String, u64) {
    match value.rsplit_once('#') {
        Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
        None => (value.to_string(), 1),
    }
}
