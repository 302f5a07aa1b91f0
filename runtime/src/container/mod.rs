//! Running a container: start the init helper, talk to it, wait for the
//! end. [`start`] + [`Running::wait`] is the whole API for a build step
//! (stdio on descriptors it owns); [`foreground::run`] adds what `kiln run`
//! needs in a terminal (signal forwarding, raw mode, window size).

pub mod attach;
pub mod bundle;
pub mod copy;
pub mod diff;
pub mod etc;
pub mod exec;
pub mod filesystem;
pub mod foreground;
pub mod health;
mod helper_process;
pub mod lifecycle;
pub mod logs;
pub mod monitor;
mod names;
pub mod restart;
pub mod state;
pub mod terminal;
pub mod usage;
pub mod wiring;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use oci_spec::runtime::Spec;

use crate::process::exec::ExecError;
pub use crate::process::protocol::ExitStatus;
use crate::process::protocol::{self, HelperConfig, Message};
use crate::process::rootfs::Rootfs;
use helper_process::HelperProcess;

/// Host directory the helper mounts its private staging tmpfs on. Each
/// helper mounts it in its own mount namespace, so one path serves all.
pub const STAGING: &str = "/run/kiln/rootfs";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("starting the init helper: {0}")]
    Spawn(std::io::Error),
    #[error(transparent)]
    Protocol(#[from] protocol::Error),
    #[error("setting up the container: {0}")]
    Setup(String),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("the init helper died ({0})")]
    HelperDied(std::process::ExitStatus),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{runtime}: {message}")]
    Runtime { runtime: String, message: String },
}

/// Where the container's stdin, stdout and stderr go.
#[derive(Debug)]
pub enum Stdio {
    /// kiln's own stdout and stderr; its stdin too with `stdin: true`
    /// (`-i`), else /dev/null.
    Inherit { stdin: bool },
    /// A pty inside the container (`-t`); the master comes back in
    /// [`Running::take_pty`].
    Pty,
    /// Pipes for stdout and stderr whose read ends come back in
    /// [`Running::take_output`] (Docker's attached run without `-t`: the
    /// container writes to pipes, never to the caller's terminal, and the
    /// caller can log what passes); kiln's own stdin with `stdin: true`.
    Piped { stdin: bool },
    /// Descriptors the caller owns, e.g. the write ends of pipes a build
    /// reads its step's log from. `stdin: None` is /dev/null.
    Fds {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
}

/// One container to run.
#[derive(Debug)]
pub struct Request {
    /// Names the cgroup (`kiln/<id>` under the caller's own) when the
    /// spec has no `cgroupsPath`; used for logs and bundles.
    pub id: String,
    pub spec: Spec,
    pub rootfs: Rootfs,
    pub stdio: Stdio,
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub status: ExitStatus,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
}

impl Outcome {
    /// Docker's exit status: the code, or 128+N for signal N.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            ExitStatus::Code(c) => (c & 0xff) as u8,
            ExitStatus::Signal(n) => (128 + n).min(255) as u8,
        }
    }
}

/// A started container.
#[derive(Debug)]
pub struct Running {
    helper: HelperProcess,
    sock: OwnedFd,
    pty: Option<OwnedFd>,
    output: Option<[OwnedFd; 2]>,
    cgroup: Option<PathBuf>,
    exec_error: Option<ExecError>,
    setup_error: Option<String>,
    outcome: Option<Outcome>,
    stubs: Vec<PathBuf>,
}

/// Starts the container and returns once its command is about to run (or
/// has failed to). Safe to call from a multi-threaded process: the helper
/// is a fresh exec of this binary (see `helper_process`).
pub fn start(req: Request) -> Result<Running, Error> {
    start_with(req, None)
}

/// Called with the container's first process's pid (as the host sees it)
/// after setup, before the command runs: its namespaces are the container's.
pub type Gate<'a> = &'a mut dyn FnMut(u32) -> Result<(), String>;

/// [`start`], running `gate` before the container's command starts: the
/// lifecycle wires networks there, so the first packet finds them up.
pub fn start_with(mut req: Request, gate: Option<Gate>) -> Result<Running, Error> {
    let stdio = std::mem::replace(&mut req.stdio, Stdio::Inherit { stdin: false });
    spawn(stdio)?.start(req, gate)
}

/// An init helper started before its container is known, so that its exec
/// and start-up overlap the caller's work on the spec (a `kiln run` spends
/// about as long on flags and image config as the helper takes to start).
/// Dropping it closes the socket, on which the helper exits, and reaps it.
#[derive(Debug)]
pub struct Spawned {
    helper: Option<HelperProcess>,
    sock: Option<OwnedFd>,
    pty: bool,
    output: Option<[OwnedFd; 2]>,
}

/// Starts an init helper with `stdio`; [`Spawned::start`] hands it a
/// container. Returns without waiting for the helper's exec; a helper that
/// cannot start shows as one that died. Safe to call from a multi-threaded
/// process.
pub fn spawn(stdio: Stdio) -> Result<Spawned, Error> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::Spawn(e.into()))?;
    let pty = matches!(stdio, Stdio::Pty);
    let (stdio, output) = piped(stdio).map_err(Error::Spawn)?;
    let helper = HelperProcess::spawn(&theirs, stdio).map_err(Error::Spawn)?;
    Ok(Spawned {
        helper: Some(helper),
        sock: Some(ours),
        pty,
        output,
    })
}

/// [`Stdio::Piped`] as the descriptors the helper gets, and the read ends
/// kept here; any other stdio as it is.
fn piped(stdio: Stdio) -> std::io::Result<(Stdio, Option<[OwnedFd; 2]>)> {
    let Stdio::Piped { stdin } = stdio else {
        return Ok((stdio, None));
    };
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from);
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let stdin = match stdin {
        true => Some(std::io::stdin().as_fd().try_clone_to_owned()?),
        false => None,
    };
    let fds = Stdio::Fds {
        stdin,
        stdout: out_w,
        stderr: err_w,
    };
    Ok((fds, Some([out_r, err_r])))
}

impl Spawned {
    /// Whether the helper was given a pty ([`Stdio::Pty`]).
    pub fn has_pty(&self) -> bool {
        self.pty
    }

    /// Sends the helper its container (`req.stdio` is ignored: the helper
    /// already has the stdio [`spawn`] gave it) and returns once the
    /// command is about to run, or has failed to.
    pub fn start(mut self, mut req: Request, gate: Option<Gate>) -> Result<Running, Error> {
        if gate.is_some() {
            let mut notes = req.spec.annotations().clone().unwrap_or_default();
            notes.insert(crate::spec::GATE_ANNOTATION.into(), "1".into());
            req.spec.set_annotations(Some(notes));
        }
        let (Some(helper), Some(sock)) = (self.helper.take(), self.sock.take()) else {
            return Err(Error::Setup("init helper already used".into()));
        };
        let cgroup = req
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone());
        let mut running = Running {
            helper,
            sock,
            pty: None,
            output: self.output.take(),
            cgroup,
            exec_error: None,
            setup_error: None,
            outcome: None,
            stubs: Vec::new(),
        };
        // Compiled here, while the helper starts, rather than in the container.
        let seccomp = crate::process::seccomp::compile_spec(&req.spec)
            .map_err(|e| Error::Setup(e.to_string()))?;
        let etc = etc::files(&req.spec);
        let config = HelperConfig {
            seccomp,
            spec: req.spec,
            rootfs: req.rootfs,
            etc,
            staging: crate::rootless::staging_dir(std::path::Path::new(STAGING)),
            pty: self.pty,
        };
        protocol::send(
            running.sock.as_fd(),
            &Message::Config(Box::new(config)),
            None,
        )?;
        running.until_started(gate)?;
        Ok(running)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        drop(self.sock.take());
        if let Some(mut helper) = self.helper.take() {
            let _ = helper.wait();
        }
    }
}

impl Running {
    /// The helper's pid (the container's monitor, outside its namespaces).
    pub fn helper_pid(&self) -> u32 {
        self.helper.id()
    }

    /// Sends `sig` to the container's first process, through the helper
    /// (which cannot be reaped before we wait for it, so the pid is sure).
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> Result<(), Error> {
        let pid = nix::unistd::Pid::from_raw(self.helper.id() as i32);
        nix::sys::signal::kill(pid, sig).map_err(|e| Error::Io(e.into()))
    }

    /// The container's first process as the host sees it (the helper's
    /// only child), once started.
    pub fn container_pid(&self) -> Option<i32> {
        let pid = self.helper.id();
        let path = format!("/proc/{pid}/task/{pid}/children");
        let text = std::fs::read_to_string(path).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    /// The pty master, with [`Stdio::Pty`].
    pub fn take_pty(&mut self) -> Option<OwnedFd> {
        self.pty.take()
    }

    /// The read ends of stdout and stderr, with [`Stdio::Piped`].
    pub fn take_output(&mut self) -> Option<[OwnedFd; 2]> {
        self.output.take()
    }

    /// Readable when the helper has something to say; then call
    /// [`Running::poll`].
    pub fn control_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Handles one message; `true` once the container has ended.
    pub fn poll(&mut self) -> Result<bool, Error> {
        match protocol::recv(self.sock.as_fd())? {
            None => Ok(true),
            Some((msg, fd)) => {
                self.handle(msg, fd);
                Ok(self.outcome.is_some())
            }
        }
    }

    fn handle(&mut self, msg: Message, fd: Option<OwnedFd>) {
        match msg {
            Message::Pty => self.pty = fd,
            Message::Exec(e) => self.exec_error = Some(e),
            Message::Setup(e) => self.setup_error = Some(e),
            Message::Exited { status, oom_killed } => {
                self.outcome = Some(Outcome { status, oom_killed })
            }
            Message::Stubs(paths) => self.stubs = paths,
            Message::Started | Message::Config(_) | Message::Gate | Message::Go => {}
        }
    }

    /// Reads until the command is about to run; an error if it cannot.
    fn until_started(&mut self, mut gate: Option<Gate>) -> Result<(), Error> {
        loop {
            match protocol::recv(self.sock.as_fd())? {
                Some((Message::Started, _)) => return Ok(()),
                Some((Message::Gate, _)) => {
                    // The gate wires the container's network namespace,
                    // which is its first process's, not the helper's.
                    let pid = self.container_pid().map(|p| p as u32);
                    if let Some(g) = gate.as_mut() {
                        let wired = pid
                            .ok_or_else(|| "the container's process is gone".to_string())
                            .and_then(&mut *g);
                        if let Err(e) = wired {
                            let _ = self.signal(nix::sys::signal::Signal::SIGKILL);
                            self.setup_error = Some(e);
                            return self.finish().map(|_| ());
                        }
                    }
                    protocol::send(self.sock.as_fd(), &Message::Go, None)?;
                }
                Some((msg, fd)) => {
                    self.handle(msg, fd);
                    if self.exec_error.is_some() || self.setup_error.is_some() {
                        return self.finish().map(|_| ());
                    }
                }
                None => return self.finish().map(|_| ()),
            }
        }
    }

    /// Waits for the container to end.
    pub fn wait(mut self) -> Result<Outcome, Error> {
        while self.outcome.is_none() {
            if self.poll()? {
                break;
            }
        }
        self.finish()
    }

    /// Reaps the helper and turns what it said into a result.
    fn finish(&mut self) -> Result<Outcome, Error> {
        while self.outcome.is_none() && !self.poll()? {}
        let status = self.helper.wait()?;
        remove_stubs(&self.stubs);
        if let Some(e) = self.exec_error.take() {
            return Err(Error::Exec(e));
        }
        if let Some(e) = self.setup_error.take() {
            self.remove_cgroup();
            return Err(Error::Setup(e));
        }
        match self.outcome {
            Some(o) => Ok(o),
            None => {
                self.remove_cgroup();
                Err(Error::HelperDied(status))
            }
        }
    }

    /// The helper removes the cgroup; this covers a helper that was killed.
    fn remove_cgroup(&self) {
        if let Some(path) = &self.cgroup {
            if let Ok(cg) = crate::cgroups::open(path) {
                let _ = cg.remove();
            }
        }
    }
}

/// Removes the /etc mount points the runtime created, while they are
/// still the empty files it made (a container may have written its own).
pub fn remove_stubs(paths: &[PathBuf]) {
    for p in paths {
        let stub = std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.len() == 0);
        if stub {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_stub_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (empty, full) = (dir.path().join("hosts"), dir.path().join("hostname"));
        std::fs::write(&empty, "").unwrap();
        std::fs::write(&full, "mine\n").unwrap();
        remove_stubs(&[empty.clone(), full.clone(), dir.path().join("absent")]);
        assert!(!empty.exists());
        assert!(full.exists());
    }

    #[test]
    fn exit_codes_follow_docker() {
        let o = |status| Outcome {
            status,
            oom_killed: false,
        };
        assert_eq!(o(ExitStatus::Code(3)).exit_code(), 3);
        assert_eq!(o(ExitStatus::Signal(9)).exit_code(), 137);
        assert_eq!(o(ExitStatus::Signal(15)).exit_code(), 143);
        assert_eq!(o(ExitStatus::Code(256 + 4)).exit_code(), 4);
    }
}
