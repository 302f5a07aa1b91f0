//! What `stop`, `kill`, `pause`, `wait` and `rm` do to a container, from
//! any kiln process: signals go straight to the container's first process
//! (checked to still be this container's, by its cgroup), and the outcome
//! is read back from the state its monitor writes.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;

use super::state::{self, Container, Containers, State, Status};
use crate::volume::Volumes;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] state::Error),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is paused: unpause it first")]
    Paused(String),
    #[error("container {0} is not paused")]
    NotPaused(String),
    #[error("cannot remove container {0}: it is {1}; stop it first or use -f")]
    Running(String, &'static str),
    #[error("invalid signal {0:?}")]
    BadSignal(String),
    #[error("signalling {0}: {1}")]
    Signal(String, nix::Error),
    #[error("freezing the container: {0}")]
    Freeze(#[from] crate::cgroups::Error),
    #[error("removing {0}: {1}")]
    Remove(String, std::io::Error),
}

type Result<T> = std::result::Result<T, Error>;

/// `TERM`, `SIGTERM`, `sigterm` or `15`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let bad = || Error::BadSignal(text.into());
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// Whether `pid` is still a process of container `id` (its cgroup names
/// the container), so a recycled pid is never signalled.
fn owns(pid: i32, id: &str) -> bool {
    if pid <= 0 {
        return false;
    }
    if crate::rootless::active() {
        return root_is_containers(pid, id);
    }
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .is_ok_and(|t| t.contains(&format!("kiln/{id}")))
}

/// A rootless container has no cgroup of its own; its root mount (an
/// overlay whose upper directory is the container's) names it instead.
fn root_is_containers(pid: i32, id: &str) -> bool {
    let upper = format!("/containers/{id}/upper,");
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).is_ok_and(|t| {
        t.lines()
            .any(|l| l.split(' ').nth(4) == Some("/") && l.contains(&upper))
    })
}

/// Sends `sig` to the container's first process.
pub fn kill(c: &Container, sig: Signal) -> Result<()> {
    if !matches!(c.state.status, Status::Running | Status::Paused)
        || !owns(c.state.pid, &c.record.id)
    {
        return Err(Error::NotRunning(c.record.name.clone()));
    }
    let stop_signal = parse_signal(&c.record.stop_signal).unwrap_or(Signal::SIGTERM);
    if sig == Signal::SIGKILL || sig == stop_signal {
        // Docker: a container killed by the user is not restarted.
        c.update(|s| s.stop_requested = true)?;
    }
    send(Pid::from_raw(c.state.pid), sig).map_err(|e| Error::Signal(c.record.name.clone(), e))
}

/// Docker's `stop`: the stop signal, then SIGKILL after `timeout`.
pub fn stop(c: &Container, timeout: Duration) -> Result<State> {
    c.update(|s| s.stop_requested = true)?;
    if !c.state.status.is_live() {
        return Ok(c.state.clone());
    }
    let pid = c.state.pid;
    let sig = parse_signal(&c.record.stop_signal).unwrap_or(Signal::SIGTERM);
    if owns(pid, &c.record.id) {
        let _ = send(Pid::from_raw(pid), sig);
        if c.state.status == Status::Paused {
            let _ = crate::cgroups::freezer::set_frozen(pid, false);
        }
    }
    if let Some(s) = wait_stopped(&c.dir, timeout) {
        return Ok(s);
    }
    if owns(pid, &c.record.id) {
        let _ = send(Pid::from_raw(pid), Signal::SIGKILL);
    }
    Ok(wait_stopped(&c.dir, Duration::from_secs(10)).unwrap_or_else(|| c.state.clone()))
}

/// Polls until the container is no longer running (or `timeout`).
pub fn wait_stopped(dir: &Path, timeout: Duration) -> Option<State> {
    let deadline = Instant::now() + timeout;
    loop {
        let s = Container::load(dir).ok()?.state;
        let ended = matches!(s.status, Status::Exited | Status::Dead | Status::Created);
        if ended {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `kiln wait`: blocks until the container stops; its exit code. A
/// container that was never started counts as stopped only once it has
/// run, as in Docker, so this waits for its first start too.
pub fn wait(dir: &Path) -> Result<i32> {
    loop {
        let c = Container::load(dir)?;
        let s = c.state;
        if matches!(s.status, Status::Exited | Status::Dead) {
            return Ok(s.exit_code);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `pause` / `unpause`.
pub fn set_paused(c: &Container, paused: bool) -> Result<()> {
    let name = c.record.name.clone();
    match (c.state.status, paused) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Paused, true) => return Err(Error::Paused(name)),
        (_, false) => return Err(Error::NotPaused(name)),
        _ => return Err(Error::NotRunning(name)),
    }
    crate::cgroups::freezer::set_frozen(c.state.pid, paused)?;
    c.update(|s| {
        if s.status.is_live() {
            s.status = if paused {
                Status::Paused
            } else {
                Status::Running
            };
        }
    })?;
    Ok(())
}

/// Holds a running container paused for as long as it lives; `commit`
/// reads the upper directory under it, as Docker pauses during a commit so
/// the layer is one consistent moment. A container already paused (or not
/// running) is left as it is.
pub struct PauseGuard {
    container: Option<Container>,
}

impl PauseGuard {
    pub fn new(c: &Container) -> Result<PauseGuard> {
        if c.state.status != Status::Running {
            return Ok(PauseGuard { container: None });
        }
        set_paused(c, true)?;
        let paused = Container::load(&c.dir)?;
        Ok(PauseGuard {
            container: Some(paused),
        })
    }
}

impl Drop for PauseGuard {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            let _ = set_paused(&c, false);
        }
    }
}

/// `rm [-f] [-v]`: kills a live container with `force`, waits for its
/// monitor to finish, then removes its directory (and with `volumes`, its
/// anonymous volumes no other container uses).
pub fn remove(c: &Container, force: bool, volumes: bool) -> Result<()> {
    if c.state.status.is_live() && !force {
        return Err(Error::Running(
            c.record.name.clone(),
            c.state.status.as_str(),
        ));
    }
    c.update(|s| s.stop_requested = true)?;
    if owns(c.state.pid, &c.record.id) {
        if c.state.status == Status::Paused {
            let _ = crate::cgroups::freezer::set_frozen(c.state.pid, false);
        }
        let _ = send(Pid::from_raw(c.state.pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while state::monitor_alive(&c.dir) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // A monitor killed with -9 left its helper to end the container; make
    // sure of it and of the cgroup the helper could not remove.
    if let Ok(cg) = crate::cgroups::open(Path::new(&format!("kiln/{}", c.record.id))) {
        let _ = cg.remove();
    }
    remove_files(c, volumes)
}

/// Waiters that must read an exit before an auto-removing monitor takes
/// the container away (the API's `wait`, whose client learns a `run
/// --rm`'s status from it): one file per waiter in this directory.
const WAITERS: &str = "waiters";

/// How long an auto-removing monitor holds a finished container for its
/// waiters; a waiter that died is not waited on past it.
const WAITER_HOLD: Duration = Duration::from_secs(5);

/// Registers a waiter on the container in `dir`; dropping the guard (once
/// the exit is read) lets the removal go on.
pub fn expect_waiter(dir: &Path) -> std::io::Result<WaiterGuard> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let waiters = dir.join(WAITERS);
    std::fs::create_dir_all(&waiters)?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = waiters.join(format!("{}-{n}", std::process::id()));
    std::fs::write(&path, b"")?;
    Ok(WaiterGuard(Some(path)))
}

/// A registered waiter; see [`expect_waiter`].
#[derive(Debug)]
pub struct WaiterGuard(Option<std::path::PathBuf>);

impl WaiterGuard {
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }

    pub fn release(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        self.release();
    }
}

/// Blocks while waiters are registered, up to [`WAITER_HOLD`].
pub(crate) fn hold_for_waiters(dir: &Path) {
    let deadline = Instant::now() + WAITER_HOLD;
    let waiting = || std::fs::read_dir(dir.join(WAITERS)).is_ok_and(|mut d| d.next().is_some());
    while waiting() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Deletes the container's directory and, with `volumes`, its anonymous
/// volumes that no other container names.
pub fn remove_files(c: &Container, volumes: bool) -> Result<()> {
    let containers_dir = c.dir.parent().unwrap_or(Path::new("/"));
    std::fs::remove_dir_all(&c.dir).map_err(|e| Error::Remove(c.record.name.clone(), e))?;
    let containers = Containers::new(containers_dir);
    containers.forget(c)?;
    // Reading every other record is only worth it for anonymous volumes.
    if !volumes || !c.record.mounts.iter().any(|m| m.anonymous) {
        return Ok(());
    }
    let others = containers.list()?;
    let vols = Volumes::new(containers_dir.with_file_name("volumes"));
    for m in c.record.mounts.iter().filter(|m| m.anonymous) {
        let used = others
            .iter()
            .any(|o| o.record.mounts.iter().any(|om| om.name == m.name));
        if !used {
            let _ = vols.remove(&m.name);
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
