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

    /// `Err(Cancelled)` once the build is cancelled: the check planning
    /// makes between instructions and phases, so that Ctrl-C stops a
    /// build that is still reading a huge Dockerfile.
    pub fn checkpoint(&self) -> Result<(), crate::BuildError> {
        if self.is_cancelled() {
            return Err(crate::BuildError::Cancelled);
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_fails_once_cancelled() {
        let c = Cancel::new();
        assert!(c.checkpoint().is_ok());
        c.cancel();
        assert!(matches!(c.checkpoint(), Err(crate::BuildError::Cancelled)));
    }
}
