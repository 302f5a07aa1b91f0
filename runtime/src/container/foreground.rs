//! `kiln run` in the foreground: the container's process gets the signals
//! kiln receives (Docker's sig-proxy, unless `--sig-proxy=false`), and
//! with `-t` the caller's terminal is put in raw mode and joined to the
//! container's pty. Call it from a single-threaded process: it blocks the
//! forwarded signals in the calling thread and reads them from a signalfd.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::logs::{self, Stream};
use super::terminal::{copy_size, RawMode};
use super::{spawn, Error, Gate, Outcome, Request, Running, Spawned, Stdio};
use crate::process::init::forwarded_mask;

/// What a foreground run shares with kiln's caller (`-i`, `-a`,
/// `--sig-proxy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attach {
    /// Copy kiln's stdin into the pty when there is one (`-i`).
    pub interactive: bool,
    /// Copy the container's stdout (or its pty) and stderr to kiln's own;
    /// the log gets both either way.
    pub stdout: bool,
    pub stderr: bool,
    /// Forward the signals kiln receives to the container (Docker's
    /// sig-proxy, which a pty run ignores: see [`Pump::forward`]).
    pub sig_proxy: bool,
}

impl Attach {
    /// Docker's default: both outputs shown, signals forwarded.
    pub fn all(interactive: bool) -> Attach {
        Attach {
            interactive,
            stdout: true,
            stderr: true,
            sig_proxy: true,
        }
    }
}

/// Runs the container to its end with signal forwarding; `interactive`
/// (`-i`) copies kiln's stdin into the pty when there is one.
pub fn run(req: Request, interactive: bool) -> Result<Outcome, Error> {
    run_with(req, interactive, None)
}

/// [`run`] with a start gate (see [`super::start_with`]).
pub fn run_with(mut req: Request, interactive: bool, gate: Option<Gate>) -> Result<Outcome, Error> {
    let stdio = std::mem::replace(&mut req.stdio, Stdio::Inherit { stdin: false });
    run_spawned(spawn(stdio)?, req, interactive, gate)
}

/// [`run_with`] on a helper [`spawn`]ed earlier with the stdio it needs.
pub fn run_spawned(
    helper: Spawned,
    req: Request,
    interactive: bool,
    gate: Option<Gate>,
) -> Result<Outcome, Error> {
    run_logged(helper, req, Attach::all(interactive), gate, None)
}

/// [`run_spawned`] with `attach`'s choices, appending what the container
/// prints to `log` as well (Docker logs attached runs too).
pub fn run_logged(
    helper: Spawned,
    req: Request,
    attach: Attach,
    gate: Option<Gate>,
    log: Option<logs::Writer>,
) -> Result<Outcome, Error> {
    let mut old = SigSet::empty();
    sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&forwarded_mask()),
        Some(&mut old),
    )
    .map_err(|e| Error::Io(e.into()))?;
    let result = run_blocked(helper, req, attach, gate, log);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

fn run_blocked(
    helper: Spawned,
    req: Request,
    attach: Attach,
    gate: Option<Gate>,
    log: Option<logs::Writer>,
) -> Result<Outcome, Error> {
    let sfd = SignalFd::with_flags(
        &forwarded_mask(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(|e| Error::Io(e.into()))?;
    let tty = helper.has_pty();
    let mut running = helper.start(req, gate)?;
    let master = if tty { running.take_pty() } else { None };
    let stdin = std::io::stdin();
    let _raw = master.as_ref().and_then(|_| RawMode::enter(stdin.as_fd()));
    if let Some(m) = &master {
        copy_size(stdin.as_fd(), m);
    }
    let outputs = running.take_output().map_or_else(Vec::new, |[out, err]| {
        vec![(Stream::Stdout, out), (Stream::Stderr, err)]
    });
    let mut io = Pump {
        master,
        stdin_open: attach.interactive && tty,
        outputs,
        log,
        // A pty run forwards whatever sig-proxy says (see `forward`).
        attach: Attach {
            sig_proxy: attach.sig_proxy || tty,
            ..attach
        },
    };
    loop {
        let ended = io.step(&sfd, &mut running)?;
        if ended {
            break;
        }
    }
    io.drain();
    running.wait()
}

struct Pump {
    master: Option<OwnedFd>,
    stdin_open: bool,
    /// Pipes of [`super::Stdio::Piped`], until they close.
    outputs: Vec<(Stream, OwnedFd)>,
    log: Option<logs::Writer>,
    attach: Attach,
}

impl Pump {
    /// One poll round; `true` once the container has ended.
    fn step(&mut self, sfd: &SignalFd, running: &mut Running) -> Result<bool, Error> {
        let stdin = std::io::stdin();
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(running.control_fd(), PollFlags::POLLIN),
        ];
        let master_idx = self.master.as_ref().map(|m| {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let stdin_idx = self.stdin_open.then(|| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let first_output = fds.len();
        for (_, fd) in &self.outputs {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => return Ok(false),
            Err(e) => return Err(Error::Io(e.into())),
            Ok(_) => {}
        }
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        let (sig_ready, control_ready) = (ready(0), ready(1));
        let master_ready = master_idx.is_some_and(ready);
        let stdin_ready = stdin_idx.is_some_and(ready);
        let outputs_ready: Vec<bool> = (first_output..fds.len()).map(ready).collect();
        drop(fds);
        self.copy_outputs(&outputs_ready);
        if sig_ready {
            self.forward(sfd, running);
        }
        if master_ready {
            self.copy_out();
        }
        if stdin_ready {
            self.copy_in();
        }
        if control_ready {
            return running.poll();
        }
        Ok(false)
    }

    /// Passes on what kiln received. Without sig-proxy the signals are
    /// read and dropped, so kiln stays and the container runs to its own
    /// end; under a pty sig-proxy does not apply, as in Docker (kiln is the
    /// container's monitor here, so the pty run keeps forwarding).
    fn forward(&self, sfd: &SignalFd, running: &Running) {
        while let Ok(Some(info)) = sfd.read_signal() {
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            match (sig, &self.master) {
                (Signal::SIGCHLD, _) => {}
                // The pty's size change makes the kernel signal the container.
                (Signal::SIGWINCH, Some(m)) => copy_size(std::io::stdin().as_fd(), m),
                _ if !self.attach.sig_proxy => {}
                _ => {
                    let _ = running.signal(sig);
                }
            }
        }
    }

    fn copy_out(&mut self) {
        let Some(m) = &self.master else { return };
        let mut buf = [0u8; 8192];
        match nix::unistd::read(m.as_fd(), &mut buf) {
            Ok(0) | Err(_) => self.master = None,
            Ok(n) => {
                if self.attach.stdout {
                    let _ = write_flushed(&mut std::io::stdout().lock(), &buf[..n]);
                }
                self.log_bytes(Stream::Stdout, &buf[..n]);
            }
        }
    }

    /// One read from each output pipe marked ready, to kiln's own stdout or
    /// stderr and the log; a pipe at its end is dropped.
    fn copy_outputs(&mut self, ready: &[bool]) {
        let mut buf = [0u8; 8192];
        let mut closed = Vec::new();
        for (n, (stream, fd)) in self.outputs.iter().enumerate() {
            if !ready.get(n).copied().unwrap_or(false) {
                continue;
            }
            match nix::unistd::read(fd.as_fd(), &mut buf) {
                Ok(0) => closed.push(n),
                Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
                Err(_) => closed.push(n),
                Ok(len) => {
                    let bytes = &buf[..len];
                    let _ = match stream {
                        Stream::Stdout if self.attach.stdout => {
                            write_flushed(&mut std::io::stdout().lock(), bytes)
                        }
                        Stream::Stderr if self.attach.stderr => {
                            write_flushed(&mut std::io::stderr().lock(), bytes)
                        }
                        _ => Ok(()),
                    };
                    if let Some(log) = &mut self.log {
                        let _ = log.write(*stream, bytes);
                    }
                }
            }
        }
        for n in closed.into_iter().rev() {
            self.outputs.remove(n);
        }
    }

    fn log_bytes(&mut self, stream: Stream, bytes: &[u8]) {
        if let Some(log) = &mut self.log {
            let _ = log.write(stream, bytes);
        }
    }

    fn copy_in(&mut self) {
        let mut buf = [0u8; 4096];
        match std::io::stdin().lock().read(&mut buf) {
            Ok(0) | Err(_) => self.stdin_open = false,
            Ok(n) => {
                if let Some(m) = &self.master {
                    let _ = write_all(m.as_fd(), &buf[..n]);
                }
            }
        }
    }

    /// Output still buffered in the pty or the pipes after the container
    /// ended; a pipe some stray process still holds is left at EAGAIN.
    fn drain(&mut self) {
        let flags = nix::fcntl::OFlag::O_NONBLOCK;
        if let Some(m) = self.master.take() {
            let _ = nix::fcntl::fcntl(m.as_fd(), nix::fcntl::FcntlArg::F_SETFL(flags));
            self.master = Some(m);
            while self.master.is_some() {
                self.copy_out();
            }
        }
        for (_, fd) in &self.outputs {
            let _ = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_SETFL(flags));
        }
        // Bounded: a stray process outside the container's PID namespace
        // could go on writing.
        for _ in 0..10_000 {
            let pending = self.pending_outputs();
            if !pending.iter().any(|p| *p) {
                break;
            }
            self.copy_outputs(&pending);
        }
        if let Some(log) = &mut self.log {
            let _ = log.flush_partial();
        }
    }

    /// Which output pipes have data or their end waiting, without blocking.
    fn pending_outputs(&self) -> Vec<bool> {
        let mut fds: Vec<PollFd> = self
            .outputs
            .iter()
            .map(|(_, fd)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect();
        if poll(&mut fds, PollTimeout::ZERO).is_err() {
            return vec![false; self.outputs.len()];
        }
        fds.iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect()
    }
}

fn write_flushed(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        let n = nix::unistd::write(fd, data)?;
        data = &data[n..];
    }
    Ok(())
}
