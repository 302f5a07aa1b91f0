//! The init helper's process: forked and exec'd without waiting for the
//! exec. std's `Command::spawn` blocks until the child has exec'd, so that
//! it can report exec errors; that wait was 0.4-0.6 ms of every `kiln run`.
//! Here a helper that cannot exec exits 127, which its parent learns as
//! it learns of any helper's death: the socket closes, and the status says
//! why. Between fork and exec the child makes only async-signal-safe
//! calls, so this is safe from a multi-threaded process (a build).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::Stdio;
use crate::process::init::MARKER_C;
use crate::process::protocol::HELPER_FD;

const SELF_EXE: &CStr = c"/proc/self/exe";

/// Where fds land in the helper before they are moved to their numbers:
/// above any of those numbers, so no move overwrites a source.
const PARKING: libc::c_int = 10;

#[derive(Debug)]
pub(crate) struct HelperProcess {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
}

impl HelperProcess {
    /// Starts `kiln __kiln-init` with `sock` as its fd 3 and `stdio` as
    /// its 0-2, and an empty environment.
    pub(crate) fn spawn(sock: &OwnedFd, stdio: Stdio) -> io::Result<HelperProcess> {
        let null = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
        };
        // Owned here until the fork is done; None leaves kiln's own fd.
        let (stdin, stdout, stderr): (Option<OwnedFd>, Option<OwnedFd>, Option<OwnedFd>) =
            match stdio {
                Stdio::Inherit { stdin: true } => (None, None, None),
                Stdio::Inherit { stdin: false } => (Some(null()?), None, None),
                Stdio::Pty => (Some(null()?), Some(null()?), Some(null()?)),
                // `spawn` turns it into `Fds` first; kiln's own, if not.
                Stdio::Piped { stdin } => (if stdin { None } else { Some(null()?) }, None, None),
                Stdio::Fds {
                    stdin,
                    stdout,
                    stderr,
                } => (
                    Some(stdin.map_or_else(null, Ok)?),
                    Some(stdout),
                    Some(stderr),
                ),
            };
        let raw = |f: &Option<OwnedFd>| f.as_ref().map_or(-1, |f| f.as_raw_fd());
        let moves: [(RawFd, RawFd); 4] = [
            (raw(&stdin), 0),
            (raw(&stdout), 1),
            (raw(&stderr), 2),
            (sock.as_raw_fd(), HELPER_FD),
        ];
        let argv = [SELF_EXE.as_ptr(), MARKER_C.as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null()];
        // SAFETY: the child runs only async-signal-safe calls (exec_child)
        // on data prepared before the fork, then execs or _exits.
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => unsafe { exec_child(&moves, &argv, &envp) },
            pid => Ok(HelperProcess { pid, status: None }),
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the helper to end (once; later calls return that status).
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let mut raw = 0;
        loop {
            // SAFETY: waits for our own child; `raw` is a valid out pointer.
            if unsafe { libc::waitpid(self.pid, &mut raw, 0) } == self.pid {
                break;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        let status = ExitStatus::from_raw(raw);
        self.status = Some(status);
        Ok(status)
    }
}

/// The forked child: fds to their numbers, default signal state, exec.
///
/// # Safety
/// Only in the child of a fork; `argv` and `envp` are null-terminated.
unsafe fn exec_child(
    moves: &[(RawFd, RawFd)],
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> ! {
    let mut parked = [-1; 4];
    for (slot, &(from, _)) in parked.iter_mut().zip(moves) {
        if from >= 0 {
            *slot = libc::fcntl(from, libc::F_DUPFD_CLOEXEC, PARKING);
            if *slot < 0 {
                libc::_exit(127);
            }
        }
    }
    for (&fd, &(_, to)) in parked.iter().zip(moves) {
        // dup2 leaves the new fd without FD_CLOEXEC: it survives the exec.
        if fd >= 0 && libc::dup2(fd, to) < 0 {
            libc::_exit(127);
        }
    }
    // Rust ignores SIGPIPE and callers may block signals; a fresh process
    // starts with neither, as std's spawn gives it.
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
    libc::_exit(127)
}
