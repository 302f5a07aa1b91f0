//! `--init` without tini: PID 1 forwards signals to the command and reaps
//! every orphan, then exits as the command did (tini's contract: 128+N for
//! a signal).

use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::init::{forwarded_mask, FORWARDED};
use super::protocol::ExitStatus;

/// Runs as PID 1 until `child` ends; returns the exit code to use.
pub fn reap(child: Pid) -> i32 {
    let Ok(sfd) = SignalFd::with_flags(&forwarded_mask(), SfdFlags::SFD_CLOEXEC) else {
        return 1;
    };
    loop {
        let Ok(Some(info)) = sfd.read_signal() else {
            continue;
        };
        let signo = info.ssi_signo as i32;
        if signo == Signal::SIGCHLD as i32 {
            match reap_finished(child) {
                Some(ExitStatus::Code(code)) => return code,
                Some(ExitStatus::Signal(sig)) => return 128 + sig,
                None => {}
            }
        } else if let Some(sig) = FORWARDED.iter().find(|s| **s as i32 == signo) {
            let _ = nix::sys::signal::kill(child, *sig);
        }
    }
}

/// Reaps every finished child (orphans included, for a PID 1 or a
/// subreaper); how `child` ended once it is among them.
pub(super) fn reap_finished(child: Pid) -> Option<ExitStatus> {
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                result = Some(ExitStatus::Code(code))
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                result = Some(ExitStatus::Signal(sig as i32))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}
