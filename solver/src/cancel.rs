//! Cancellation of a build (Ctrl-C, SIGTERM): a flag every step checks, and
//! the helper processes of running steps, killed at once. A helper's
//! container dies with it (the helper sets PDEATHSIG on its child).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    helpers: Mutex<HashSet<u32>>,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Stops the build: no new step starts, running ones are killed.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Ok(helpers) = self.helpers.lock() {
            for pid in helpers.iter() {
                // SAFETY: kill(2) with a pid we started and have not reaped.
                unsafe {
                    libc::kill(*pid as libc::pid_t, libc::SIGKILL);
                }
            }
        }
    }

    /// Registers a running step's helper; returns false (and kills it) when
    /// the build was cancelled meanwhile.
    pub fn register(&self, pid: u32) -> bool {
        if let Ok(mut h) = self.helpers.lock() {
            h.insert(pid);
        }
        if self.is_cancelled() {
            self.cancel();
            return false;
        }
        true
    }

    pub fn unregister(&self, pid: u32) {
        if let Ok(mut h) = self.helpers.lock() {
            h.remove(&pid);
        }
    }
}
