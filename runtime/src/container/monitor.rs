//! The monitor of a detached container: kiln re-executed as
//! `kiln __kiln-monitor DIR`, in a session of its own so it survives the
//! shell that started it. It holds the container's stdio and writes its
//! log, wires its network at each start, reaps it, applies the restart
//! policy, and records every change in `state.json`. It holds
//! `monitor.lock` for its whole life, which is how others know it lives.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio as S};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::{Deserialize, Serialize};

use super::attach::{Input, Relay};
use super::logs::{self, Stream};
use super::restart::Backoff;
use super::state::{self, now, Container, Status};
use super::wiring::Wiring;
use super::{start_with, Error as StartError, Outcome, Request, Running, Stdio};

/// argv[1] that makes the kiln binary act as a container's monitor.
pub const MARKER: &str = "__kiln-monitor";

/// The descriptor the monitor reports its first start on.
const READY_FD: i32 = 3;

/// Docker's status when the container could not be started at all.
const SETUP_FAILED: u8 = 125;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("starting the container's monitor: {0}")]
    Spawn(std::io::Error),
    #[error("the container's monitor exited before the container started")]
    Vanished,
    /// The container could not start; `exit_code` is Docker's (125, 126, 127).
    #[error("{message}")]
    Start { message: String, exit_code: u8 },
}

/// What the monitor says about the first start.
#[derive(Debug, Serialize, Deserialize)]
struct Ready {
    error: Option<String>,
    exit_code: u8,
}

/// Starts the monitor for the container in `dir` and returns once the
/// container's command runs (or could not be started).
pub fn spawn(dir: &Path) -> Result<(), Error> {
    let (ready_r, ready_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Spawn(e.into()))?;
    let raw = ready_w.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(MARKER)
        .arg(dir)
        .stdin(S::null())
        .stdout(S::null())
        .stderr(S::null());
    if std::env::var_os("PATH").is_none() {
        cmd.env("PATH", crate::process::exec::DEFAULT_PATH);
    }
    // SAFETY: setsid, fcntl and dup2 only, all async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            // dup2 onto itself would keep the fd close-on-exec.
            let kept = match raw == READY_FD {
                true => libc::fcntl(raw, libc::F_SETFD, 0),
                false => libc::dup2(raw, READY_FD),
            };
            if kept < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(Error::Spawn)?;
    drop(ready_w);
    // Not waited for: the monitor outlives this process by design.
    drop(child);
    let mut text = String::new();
    let _ = std::fs::File::from(ready_r).read_to_string(&mut text);
    let ready: Ready = serde_json::from_str(&text).map_err(|_| Error::Vanished)?;
    match ready.error {
        None => Ok(()),
        Some(message) => Err(Error::Start {
            message,
            exit_code: ready.exit_code,
        }),
    }
}

/// The monitor's `main`.
pub fn main(dir: PathBuf) -> ExitCode {
    // SAFETY: fd 3 was placed by `spawn` for us; nothing else owns it.
    let ready = unsafe { OwnedFd::from_raw_fd(READY_FD) };
    let _ = nix::fcntl::fcntl(
        ready.as_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let mut ready = Some(ready);
    let lock = match state::hold_monitor_lock(&dir) {
        Ok(l) => l,
        Err(e) => {
            report(&mut ready, Some(e.to_string()), SETUP_FAILED);
            return ExitCode::from(1);
        }
    };
    let code = match Monitor::new(dir, &mut ready) {
        Ok(mut m) => {
            m.run(&mut ready);
            0
        }
        Err(e) => {
            report(&mut ready, Some(e), SETUP_FAILED);
            1
        }
    };
    drop(lock);
    ExitCode::from(code)
}

fn report(ready: &mut Option<OwnedFd>, error: Option<String>, exit_code: u8) {
    if let Some(fd) = ready.take() {
        let text = serde_json::to_string(&Ready { error, exit_code }).unwrap_or_default();
        let _ = nix::unistd::write(fd.as_fd(), text.as_bytes());
    }
}

struct Monitor {
    container: Container,
    wiring: Wiring,
    /// The write end of `-i`'s stdin pipe, kept so the command sees no EOF.
    stdin_keep: Option<OwnedFd>,
    /// Where `attach` clients join; `None` if the socket could not be made
    /// (the container still runs, only unattachable).
    relay: Option<Relay>,
}

impl Monitor {
    fn new(dir: PathBuf, _ready: &mut Option<OwnedFd>) -> Result<Monitor, String> {
        let container = Container::load(&dir).map_err(|e| e.to_string())?;
        let root = dir
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let (wiring, bound) = Wiring::new(&container.record, &root)?;
        container
            .update(|s| {
                s.ports = bound;
                s.monitor_pid = std::process::id() as i32;
                s.stop_requested = false;
                s.error.clear();
            })
            .map_err(|e| e.to_string())?;
        let relay = Relay::bind(&dir).ok();
        Ok(Monitor {
            container,
            wiring,
            stdin_keep: None,
            relay,
        })
    }

    fn run(&mut self, ready: &mut Option<OwnedFd>) {
        let mut backoff = Backoff::default();
        loop {
            let began = Instant::now();
            let result = self.run_once(ready);
            let code = match &result {
                Ok(o) => o.exit_code() as i32,
                Err((_, code)) => *code as i32,
            };
            let ended = self.container.update(|s| {
                s.status = Status::Exited;
                s.exit_code = code;
                s.pid = 0;
                s.finished_at = Some(now());
                match &result {
                    Ok(o) => s.oom_killed = o.oom_killed,
                    Err((msg, _)) => s.error = msg.clone(),
                }
            });
            if let Err((msg, code)) = result {
                report(ready, Some(msg), code);
                break;
            }
            let Ok(st) = ended else { break };
            // `update` may have changed the policy and limits meanwhile,
            // `network connect` the network.
            if let Ok(now) = Container::load(&self.container.dir) {
                self.container.record = now.record;
                self.wiring.follow(&self.container.record);
            }
            let policy = &self.container.record.restart;
            if !policy.should_restart(code, st.restart_count, st.stop_requested) {
                break;
            }
            let _ = self.container.update(|s| {
                s.status = Status::Restarting;
                s.restart_count += 1;
            });
            if !self.sleep_unless_stopped(backoff.next(began.elapsed())) {
                let _ = self.container.update(|s| s.status = Status::Exited);
                break;
            }
        }
        self.wiring.unwire();
        if self.container.record.auto_remove {
            super::lifecycle::hold_for_waiters(&self.container.dir);
            let _ = super::lifecycle::remove_files(&self.container, true);
        }
    }

    /// Sleeps `delay`; `false` if a stop was asked for meanwhile.
    fn sleep_unless_stopped(&self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20).min(delay));
            let stopped = state::read_json::<state::State>(&self.container.dir.join("state.json"))
                .is_ok_and(|s| s.stop_requested);
            if stopped {
                return false;
            }
        }
        true
    }

    /// One run of the command, start to end.
    fn run_once(&mut self, ready: &mut Option<OwnedFd>) -> Result<Outcome, (String, u8)> {
        let failed = |e: StartError| {
            let code = match &e {
                StartError::Exec(x) => x.exit_code(),
                _ => SETUP_FAILED,
            };
            (e.to_string(), code)
        };
        let io_failed = |e: nix::Error| (format!("creating pipes: {e}"), SETUP_FAILED);
        let record = &self.container.record;
        let (stdio, out, err) = if record.tty {
            (Stdio::Pty, None, None)
        } else {
            let (out_r, out_w) =
                nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io_failed)?;
            let (err_r, err_w) =
                nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io_failed)?;
            let stdin = if record.open_stdin {
                let (in_r, in_w) =
                    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io_failed)?;
                self.stdin_keep = Some(in_w);
                Some(in_r)
            } else {
                None
            };
            let fds = Stdio::Fds {
                stdin,
                stdout: out_w,
                stderr: err_w,
            };
            (fds, Some(out_r), Some(err_r))
        };
        let req = Request {
            id: record.id.clone(),
            spec: record.spec.clone(),
            rootfs: record.rootfs.clone(),
            stdio,
        };
        let needs_gate = self.wiring.needs_gate();
        let started = {
            let wiring = &mut self.wiring;
            let mut gate = |pid: u32| wiring.wire(pid);
            let gate: Option<super::Gate> = if needs_gate { Some(&mut gate) } else { None };
            start_with(req, gate)
        };
        let mut running = match started {
            Ok(r) => r,
            Err(e) => {
                self.wiring.unwire();
                return Err(failed(e));
            }
        };
        let pid = running.container_pid().unwrap_or(0);
        let _ = self.container.update(|s| {
            s.status = Status::Running;
            s.pid = pid;
            s.started_at = Some(now());
            s.finished_at = None;
            s.ip = self.wiring.ip.clone();
            s.exit_code = 0;
            s.oom_killed = false;
            s.error.clear();
        });
        // Probes run while the command does (marked starting before `run
        // -d` returns), and end before its exit is recorded.
        let prober = super::health::Prober::start(&self.container.dir, record, pid);
        report(ready, None, 0);
        let pty = running.take_pty();
        // Attached stdin goes to the pty under -t, else to -i's pipe.
        let stdin = match &pty {
            Some(p) => p.try_clone().ok(),
            None => self.stdin_keep.take(),
        };
        let pumped = self.pump(&mut running, [out, err, pty], stdin);
        drop(prober);
        if let Some(r) = self.relay.as_mut() {
            r.end_run();
        }
        let outcome = pumped.and_then(|()| running.wait().map_err(failed));
        self.wiring.unwire();
        self.stdin_keep = None;
        outcome
    }

    /// Copies the container's output into the log (and to attached
    /// clients) until it ends; what clients send goes to `stdin`.
    fn pump(
        &mut self,
        running: &mut Running,
        sources: [Option<OwnedFd>; 3],
        stdin: Option<OwnedFd>,
    ) -> Result<(), (String, u8)> {
        // `None` under the none driver: the output only goes to clients.
        let mut log = logs::LogConfig::of(&self.container.record.spec)
            .open(&self.container.dir)
            .map_err(|e| (format!("opening the log: {e}"), SETUP_FAILED))?;
        let streams = [Stream::Stdout, Stream::Stderr, Stream::Stdout];
        let mut open: Vec<(Stream, OwnedFd)> = streams
            .into_iter()
            .zip(sources)
            .filter_map(|(s, fd)| fd.map(|fd| (s, fd)))
            .collect();
        let mut ended = false;
        while !ended || !open.is_empty() {
            let relay = self.relay.as_ref();
            let mut fds: Vec<PollFd> = open
                .iter()
                .map(|(_, fd)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            let n_open = fds.len();
            if !ended {
                fds.push(PollFd::new(running.control_fd(), PollFlags::POLLIN));
                if let Some(r) = relay {
                    fds.push(PollFd::new(r.listener_fd(), PollFlags::POLLIN));
                    for fd in r.input_fds() {
                        fds.push(PollFd::new(fd, PollFlags::POLLIN));
                    }
                }
            }
            // Once ended, pipes still open only drain what is buffered.
            let timeout = if ended {
                PollTimeout::ZERO
            } else {
                PollTimeout::NONE
            };
            match poll(&mut fds, timeout) {
                Err(nix::Error::EINTR) => continue,
                Err(_) => break,
                Ok(0) if ended => break,
                Ok(_) => {}
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            if !ended {
                self.serve_clients(&ready[n_open + 1..], stdin.as_ref());
                if ready[n_open] {
                    ended = running.poll().unwrap_or(true);
                }
            }
            let mut closed = Vec::new();
            for (i, (stream, fd)) in open.iter().enumerate() {
                if !ready[i] {
                    continue;
                }
                let mut buf = [0u8; 16384];
                match nix::unistd::read(fd.as_fd(), &mut buf) {
                    Ok(0) | Err(_) => closed.push(i),
                    Ok(n) => {
                        if let Some(log) = log.as_mut() {
                            let _ = log.write(*stream, &buf[..n]);
                        }
                        if let Some(r) = self.relay.as_mut() {
                            r.output(*stream, &buf[..n]);
                        }
                    }
                }
            }
            for i in closed.into_iter().rev() {
                open.remove(i);
            }
        }
        if let Some(log) = log.as_mut() {
            let _ = log.flush_partial();
        }
        Ok(())
    }

    /// `ready` is the listener's readiness, then each reading client's.
    fn serve_clients(&mut self, ready: &[bool], stdin: Option<&OwnedFd>) {
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        let inputs: Vec<usize> = (0..ready.len().saturating_sub(1))
            .filter(|i| ready[i + 1])
            .collect();
        let tty = self.container.record.tty;
        // Highest first: a client that stops reading shifts later indexes.
        for i in inputs.into_iter().rev() {
            for input in relay.input(i) {
                match (input, stdin) {
                    (Input::Stdin(data), Some(fd)) => {
                        let _ = write_all(fd, &data);
                    }
                    // Under -t `stdin` is the pty master.
                    (Input::Resize { rows, cols }, Some(fd)) if tty => {
                        let _ = super::terminal::set_size(fd, rows, cols);
                    }
                    _ => {}
                }
            }
        }
        if ready.first() == Some(&true) {
            relay.accept();
        }
    }
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
