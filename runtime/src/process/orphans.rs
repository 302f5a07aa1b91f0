//! A container without a PID namespace of its own (the process sandbox
//! off) has no PID 1 whose end takes its other processes along: a
//! `RUN daemon &` would outlive the step and keep its output pipe open.
//! The helper stands in for that PID 1. It becomes a child subreaper, so
//! orphans of the container are reparented to it, and kills them all when
//! the container's first process ends.

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

/// Makes this process the reaper of its descendants' orphans.
pub(super) fn adopt() -> Result<(), String> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    match rc {
        0 => Ok(()),
        _ => Err(format!(
            "becoming the container's subreaper: {}",
            Errno::last()
        )),
    }
}

/// Kills and reaps every child left, and theirs as they are reparented
/// here, until none is left.
pub(super) fn kill_all() {
    loop {
        for pid in children() {
            let _ = kill(pid, Signal::SIGKILL);
        }
        // Each turn reaps one; a killed process's children come to us.
        match waitpid(None, Some(WaitPidFlag::__WALL)) {
            Err(Errno::ECHILD) => return,
            Err(Errno::EINTR) | Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// This (single-threaded) process's children, from procfs.
fn children() -> Vec<Pid> {
    let me = std::process::id();
    let path = format!("/proc/{me}/task/{me}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .map(Pid::from_raw)
        .collect()
}
