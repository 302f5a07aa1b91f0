//! What can be done to an existing container, each by name, ID or unique
//! ID prefix: start, stop, restart, kill, remove, wait, rename, pause.
//! One container per call: a caller acting on several decides whether they
//! go one by one or at once (`stop` does them at once, so N containers
//! take one timeout).

use std::str::FromStr;
use std::time::{Duration, Instant};

use kiln_runtime::container::attach;
use kiln_runtime::container::lifecycle as lc;
use kiln_runtime::container::monitor;
use kiln_runtime::container::state::{self, Container, State};

use crate::events::Event;
use crate::{Engine, Error};

/// Docker's stop timeout when neither the caller nor the container sets one.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a restart waits for the old monitor's bookkeeping.
const MONITOR_EXIT_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// The caller attaches once the container runs: the container keeps
    /// its output from the first byte for that client, and if the start
    /// fails, stops expecting it.
    pub attach: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct StopOptions {
    /// Before SIGKILL; `None` is the container's own stop timeout, then
    /// Docker's 10 s.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// Kill a live container instead of refusing.
    pub force: bool,
    /// Also its anonymous volumes that no other container uses.
    pub volumes: bool,
}

/// A signal by name (`TERM`, `SIGTERM`, `sigterm`) or number, read before
/// any container is touched so a bad one fails once, not per container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(nix::sys::signal::Signal);

impl FromStr for Signal {
    type Err = Error;

    fn from_str(text: &str) -> Result<Signal, Error> {
        Ok(Signal(lc::parse_signal(text)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillOptions {
    pub signal: Signal,
}

impl Default for KillOptions {
    /// Docker's `kill` default.
    fn default() -> KillOptions {
        KillOptions {
            signal: Signal(nix::sys::signal::Signal::SIGKILL),
        }
    }
}

/// The caller's timeout, else the container's, else Docker's default.
pub fn stop_timeout(requested: Option<Duration>, container: Option<u64>) -> Duration {
    requested
        .or(container.map(Duration::from_secs))
        .unwrap_or(DEFAULT_STOP_TIMEOUT)
}

impl Engine {
    /// The container called `key` (name, ID or unique ID prefix).
    pub fn container(&self, key: &str) -> Result<Container, Error> {
        Ok(self.containers().find(key)?)
    }

    /// Starts a stopped container under a monitor of its own; a live one
    /// is left alone (Docker). Returns the container as it was found, whose
    /// record an attaching caller needs (tty, open stdin).
    pub fn start(&self, key: &str, opts: StartOptions) -> Result<Container, Error> {
        let c = self.container(key)?;
        if c.state.status.is_live() {
            return Ok(c);
        }
        if opts.attach {
            attach::expect_client(&c.dir).map_err(Error::AttachClient)?;
        }
        // Its last exit is journaled before the new run replaces it.
        self.journal_exit(&c);
        if let Err(e) = monitor::spawn(&c.dir) {
            if opts.attach {
                attach::forget_client(&c.dir);
            }
            return Err(e.into());
        }
        self.note(Event::container("start", &c));
        Ok(c)
    }

    /// Docker's `stop`: the stop signal, then SIGKILL after the timeout.
    /// The container's state once it ended.
    pub fn stop(&self, key: &str, opts: StopOptions) -> Result<State, Error> {
        let c = self.container(key)?;
        self.stop_noted(&c, opts)
    }

    /// Stops every named container at once (as Docker's CLI does), so N
    /// containers take one timeout, not N; the results in the order given.
    pub fn stop_all(&self, keys: &[String], opts: StopOptions) -> Vec<Result<State, Error>> {
        std::thread::scope(|s| {
            let running: Vec<_> = keys
                .iter()
                .map(|key| s.spawn(move || self.stop(key, opts)))
                .collect();
            running
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }

    /// Stops the container, then starts it under a new monitor.
    pub fn restart(&self, key: &str, opts: StopOptions) -> Result<(), Error> {
        let c = self.container(key)?;
        self.stop_noted(&c, opts)?;
        // The monitor finishes its bookkeeping before a new one may start.
        let deadline = Instant::now() + MONITOR_EXIT_WAIT;
        while state::monitor_alive(&c.dir) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let c = Container::load(&c.dir)?;
        monitor::spawn(&c.dir)?;
        self.note(Event::container("start", &c));
        self.note(Event::container("restart", &c));
        Ok(())
    }

    /// Sends a signal to the container's first process.
    pub fn kill(&self, key: &str, opts: KillOptions) -> Result<(), Error> {
        let c = self.container(key)?;
        lc::kill(&c, opts.signal.0)?;
        let signal = (opts.signal.0 as i32).to_string();
        self.note(Event::container("kill", &c).with("signal", signal));
        Ok(())
    }

    /// Docker's `rm`: refuses a live container unless forced.
    pub fn remove(&self, key: &str, opts: RemoveOptions) -> Result<(), Error> {
        let c = self.container(key)?;
        self.remove_container(&c, opts)
    }

    /// [`Engine::remove`] of a container already found.
    pub(crate) fn remove_container(&self, c: &Container, opts: RemoveOptions) -> Result<(), Error> {
        self.journal_exit(c);
        lc::remove(c, opts.force, opts.volumes)?;
        // Its record went with it, so its end is told here, as Docker
        // tells `rm -f` of a running container: SIGKILL's status.
        if c.state.status.is_live() {
            self.note(Event::container("kill", c).with("signal", "9"));
            self.note(Event::container("die", c).with("exitCode", "137"));
        }
        self.note(Event::container("destroy", c));
        self.sweep_link_network();
        Ok(())
    }

    /// Blocks until the container has run and stopped; its exit code.
    pub fn wait(&self, key: &str) -> Result<i32, Error> {
        let c = self.container(key)?;
        // A `--rm` container is removed as it ends: registered as a
        // waiter, this wait reads the exit before the removal.
        let _waiter = c
            .record
            .auto_remove
            .then(|| lc::expect_waiter(&c.dir).ok())
            .flatten();
        let code = lc::wait(&c.dir)?;
        if let Ok(c) = Container::load(&c.dir) {
            self.journal_exit(&c);
        }
        Ok(code)
    }

    /// The new name must be free and follow Docker's rule.
    pub fn rename(&self, key: &str, new_name: &str) -> Result<(), Error> {
        // The new name is checked first (by the rename), then the lookup.
        let old = self.container(key).map(|c| c.record.name).ok();
        self.containers().rename(key, new_name)?;
        let c = self.container(new_name)?;
        self.note(Event::container("rename", &c).with("oldName", old.unwrap_or_default()));
        Ok(())
    }

    /// Freezes (`paused`) or thaws every process of a running container.
    pub fn set_paused(&self, key: &str, paused: bool) -> Result<(), Error> {
        let c = self.container(key)?;
        lc::set_paused(&c, paused)?;
        let action = if paused { "pause" } else { "unpause" };
        self.note(Event::container(action, &c));
        Ok(())
    }

    /// Stops `c` with Docker's events for a live one: `kill` with its
    /// stop signal, its `die`, then `stop`.
    fn stop_noted(&self, c: &Container, opts: StopOptions) -> Result<State, Error> {
        let live = c.state.status.is_live();
        if live {
            let signal = lc::parse_signal(&c.record.stop_signal).map_or(15, |s| s as i32);
            self.note(Event::container("kill", c).with("signal", signal.to_string()));
        }
        let state = stop(c, opts)?;
        if live {
            if let Ok(now) = Container::load(&c.dir) {
                self.journal_exit(&now);
            }
            self.note(Event::container("stop", c));
        }
        Ok(state)
    }
}

fn stop(c: &Container, opts: StopOptions) -> Result<State, Error> {
    let timeout = stop_timeout(opts.timeout, c.record.stop_timeout);
    Ok(lc::stop(c, timeout)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_container_then_ten_seconds() {
        let secs = Duration::from_secs;
        assert_eq!(stop_timeout(Some(secs(3)), Some(30)), secs(3));
        assert_eq!(stop_timeout(Some(secs(0)), Some(30)), secs(0));
        assert_eq!(stop_timeout(None, Some(30)), secs(30));
        assert_eq!(stop_timeout(None, None), secs(10));
    }

    #[test]
    fn signals_by_name_or_number() {
        let sig = |t: &str| t.parse::<Signal>().unwrap();
        assert_eq!(sig("TERM"), sig("15"));
        assert_eq!(sig("sigterm"), sig("SIGTERM"));
        assert_eq!(KillOptions::default().signal, sig("KILL"));
        let err = "NOPE".parse::<Signal>().unwrap_err();
        assert_eq!(err.to_string(), "invalid signal \"NOPE\"");
    }

    /// Each operation names the missing container as the runtime does, so
    /// the CLI's messages do not change.
    #[test]
    fn a_missing_container_is_reported_by_every_operation() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::new(root.path());
        let expected = engine.containers().find("nope").unwrap_err().to_string();
        let errors = [
            engine.start("nope", StartOptions::default()).err(),
            engine.stop("nope", StopOptions::default()).err(),
            engine.restart("nope", StopOptions::default()).err(),
            engine.kill("nope", KillOptions::default()).err(),
            engine.remove("nope", RemoveOptions::default()).err(),
            engine.wait("nope").err(),
            engine.rename("nope", "other").err(),
            engine.set_paused("nope", true).err(),
        ];
        for err in errors {
            let err = err.expect("an error");
            assert!(matches!(err, Error::State(_)), "{err:?}");
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn a_bad_new_name_is_refused_before_any_lookup() {
        let root = tempfile::tempdir().unwrap();
        let err = Engine::new(root.path()).rename("nope", "-bad").unwrap_err();
        assert!(
            matches!(err, Error::State(state::Error::BadName(_))),
            "{err:?}"
        );
    }
}
