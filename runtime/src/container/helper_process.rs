//! The init helper's process, started without waiting for it. std's
//! `Command::spawn` blocks until the child has exec'd, so that it can
//! report exec errors; that wait was 0.4-0.6 ms of every `kiln run`. Here
//! a helper that cannot start exits 127, which its parent learns as it
//! learns of any helper's death: the socket closes, and the status says
//! why.
//!
//! A single-threaded caller (the CLI's `run`, `start`, a monitor) is forked
//! and the child runs the helper as it is: exec'ing kiln again would cost
//! about 1 ms of relocating and starting a large static binary, a tenth of
//! a `run --rm`. A multi-threaded one (a build, `kiln serve`) may not do
//! more than async-signal-safe calls after a fork, so its child execs
//! `kiln __kiln-init`. Either way the helper starts with fds 0-3 only, an
//! empty environment and no signals blocked.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::Stdio;
use crate::process::init::{self, MARKER_C};
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
        let alone = single_threaded();
        // SAFETY: a child of a multi-threaded process runs only
        // async-signal-safe calls on data prepared before the fork, then
        // execs or _exits; a child of a single-threaded one is a whole
        // process, which runs the helper and _exits without returning here.
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => unsafe {
                place_fds(&moves);
                if alone && keep_only_helper_fds() {
                    run_here()
                }
                exec_helper(&argv, &envp)
            },
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

/// Whether this process runs one thread only (`num_threads` in
/// `/proc/self/stat`), so that its forked child may go on as a whole
/// process. Unknown counts as no.
fn single_threaded() -> bool {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return false;
    };
    // The fields after the command's closing parenthesis start at the
    // third; num_threads is the twentieth.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(17))
        == Some("1")
}

/// In the forked child: fds to their numbers, no signals blocked.
///
/// # Safety
/// Only in the child of a fork.
unsafe fn place_fds(moves: &[(RawFd, RawFd)]) {
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
    // Callers may block signals; a fresh process starts with none blocked,
    // as std's spawn gives it.
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
}

/// Closes every fd above the helper's socket, as the exec would close
/// kiln's own (all close-on-exec): the store lock and lease files must not
/// stay open in a helper that outlives its caller. False when the kernel
/// has no `close_range` (before 5.9); the child execs then.
///
/// # Safety
/// Only in the child of a fork.
unsafe fn keep_only_helper_fds() -> bool {
    let first = (HELPER_FD + 1) as libc::c_uint;
    libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0) == 0
}

/// The child of a single-threaded process: runs the helper here and exits
/// without unwinding into, or dropping, anything of the caller's.
///
/// # Safety
/// Only in the child of a fork of a single-threaded process, after
/// [`place_fds`] and [`keep_only_helper_fds`].
unsafe fn run_here() -> ! {
    // The exec'd helper has an empty environment; so has this one.
    libc::clearenv();
    // `ps` and `top` tell it from the kiln that forked it by its name.
    libc::prctl(libc::PR_SET_NAME, c"kiln-init".as_ptr());
    // A write to the socket of a dead kiln must fail, not kill the helper
    // before it kills the container (Rust ignores SIGPIPE; this child
    // inherited that).
    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    let code = std::panic::catch_unwind(init::run).unwrap_or(101);
    libc::_exit(code.into())
}

/// The forked child of a multi-threaded process: execs the helper.
///
/// # Safety
/// Only in the child of a fork, after [`place_fds`]; `argv` and `envp`
/// are null-terminated.
unsafe fn exec_helper(argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> ! {
    // Rust ignores SIGPIPE; a fresh process does not, as std's spawn
    // gives it (kiln's own runtime ignores it again after the exec).
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
    libc::_exit(127)
}
