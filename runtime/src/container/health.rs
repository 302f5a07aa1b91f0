//! Health checks as Docker runs them (moby's daemon/health.go): the
//! container's `Config.Healthcheck` is probed every interval by a command
//! run inside it as `exec` runs one; exit 0 is healthy, anything else a
//! failure. `retries` failures in a row make it unhealthy, except while it
//! is still starting within its start period. The state (status, failing
//! streak, the last five results) lives in `state.json` beside the rest;
//! whoever owns the running container (its monitor) runs the [`Prober`].

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::exec::{self, ExecRequest};
use super::state::{self, now, Record, Status};

/// Results kept in the log (Docker's `maxLogEntries`).
pub const LOG_ENTRIES: usize = 5;
/// Output bytes kept of one probe (Docker's `maxOutputLen`).
pub const OUTPUT_MAX: usize = 4096;
/// Status changes kept for the events journal to catch up with.
const CHANGES_KEPT: usize = 16;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;

/// A check to run, with Docker's defaults in place of zero fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The argv run in the container (`CMD-SHELL` wrapped in `/bin/sh -c`).
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u32,
}

impl Check {
    /// The check Docker's `Config.Healthcheck` object describes; `None`
    /// when there is none to run (absent, `NONE`, empty or unknown type).
    pub fn from_config(healthcheck: &Value) -> Option<Check> {
        let test: Vec<String> = healthcheck
            .get("Test")?
            .as_array()?
            .iter()
            .map(|w| w.as_str().map(str::to_string))
            .collect::<Option<_>>()?;
        let (kind, rest) = test.split_first()?;
        let command = match kind.as_str() {
            "CMD" => rest.to_vec(),
            "CMD-SHELL" => ["/bin/sh", "-c"]
                .into_iter()
                .map(str::to_string)
                .chain(rest.iter().cloned())
                .collect(),
            _ => return None,
        };
        if rest.is_empty() {
            return None;
        }
        let duration = |key: &str, default: Duration| {
            healthcheck
                .get(key)
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map_or(default, Duration::from_nanos)
        };
        let retries = healthcheck
            .get("Retries")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .map_or(DEFAULT_RETRIES, |n| u32::try_from(n).unwrap_or(u32::MAX));
        Some(Check {
            command,
            interval: duration("Interval", DEFAULT_INTERVAL),
            timeout: duration("Timeout", DEFAULT_TIMEOUT),
            start_period: duration("StartPeriod", Duration::ZERO),
            retries,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub start: String,
    pub end: String,
    /// The command's status; -1 when it timed out or could not be run.
    pub exit_code: i32,
    pub output: String,
}

/// A status change, numbered so a reader can tell which it has seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub status: HealthStatus,
    pub at: String,
}

/// A container's health, as `inspect` shows it under `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    /// The last [`LOG_ENTRIES`] results, oldest first.
    pub log: Vec<Probe>,
    /// The last status changes (Docker's `health_status` events).
    #[serde(default)]
    pub changes: Vec<Change>,
}

impl Health {
    /// A (re)start: starting again with no failures; the log stays.
    pub fn restart(&mut self) {
        self.status = HealthStatus::Starting;
        self.failing_streak = 0;
    }

    /// Takes one probe's result. A failure while starting within the start
    /// period does not count.
    pub fn record(&mut self, probe: Probe, in_start_period: bool, retries: u32) {
        let old = self.status;
        let at = probe.end.clone();
        if probe.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(old == HealthStatus::Starting && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(probe);
        let extra = self.log.len().saturating_sub(LOG_ENTRIES);
        self.log.drain(..extra);
        if self.status != old {
            let seq = self.changes.last().map_or(1, |c| c.seq + 1);
            self.changes.push(Change {
                seq,
                status: self.status,
                at,
            });
            let extra = self.changes.len().saturating_sub(CHANGES_KEPT);
            self.changes.drain(..extra);
        }
    }
}

/// Runs a container's probes on a thread of its own until dropped.
pub struct Prober {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Prober {
    /// Starts probing the container in `dir` (its record `record`, its
    /// PID 1 the host's `pid`) when it has a check, marking it starting.
    pub fn start(dir: &Path, record: &Record, pid: i32) -> Option<Prober> {
        let check = record
            .config
            .get("Healthcheck")
            .and_then(Check::from_config)?;
        let _ = state::update_state(dir, |s| {
            s.health.get_or_insert_with(Health::default).restart()
        });
        let req = ExecRequest {
            pid,
            spec: record.spec.clone(),
            args: check.command.clone(),
            env: Vec::new(),
            workdir: None,
            user: None,
            tty: false,
            privileged: false,
        };
        let (stop, stopped) = mpsc::channel();
        let dir = dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("health".into())
            .spawn(move || probe_loop(&dir, &check, &req, &stopped))
            .ok()?;
        Some(Prober {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Prober {
    /// Stops the probes; a probe under way is killed and not recorded.
    fn drop(&mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits an interval, probes, records; Docker's order (the first probe
/// comes one interval after the start, the next one interval after the
/// previous one ended).
fn probe_loop(dir: &Path, check: &Check, req: &ExecRequest, stop: &Receiver<()>) {
    let began = Instant::now();
    loop {
        match stop.recv_timeout(check.interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        // A paused container is not probed (its probe could only time out).
        if paused(dir) {
            continue;
        }
        let in_start_period = began.elapsed() < check.start_period;
        let start = now();
        let Some((exit_code, output)) = run_probe(req, check.timeout, stop) else {
            return;
        };
        // Paused meanwhile: the probe was frozen, its result says nothing.
        if paused(dir) {
            continue;
        }
        let probe = Probe {
            start,
            end: now(),
            exit_code,
            output,
        };
        let recorded = state::update_state(dir, |s| {
            let health = s.health.get_or_insert_with(Health::default);
            health.record(probe, in_start_period, check.retries);
        });
        if recorded.is_err() {
            return;
        }
    }
}

fn paused(dir: &Path) -> bool {
    state::read_json::<state::State>(&dir.join("state.json"))
        .is_ok_and(|s| s.status == Status::Paused)
}

/// One probe: its status and output, or `None` when stopped meanwhile.
fn run_probe(req: &ExecRequest, timeout: Duration, stop: &Receiver<()>) -> Option<(i32, String)> {
    let (mut child, out) = match spawn_probe(req) {
        Ok(x) => x,
        Err(e) => return Some((-1, e)),
    };
    let mut output = Output::default();
    let deadline = Instant::now() + timeout;
    loop {
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(10u8));
        output.read_from(&out);
        if let Ok(Some(status)) = child.try_wait() {
            output.read_from(&out);
            return Some((status.code().unwrap_or(-1), output.text()));
        }
        if !matches!(stop.try_recv(), Err(TryRecvError::Empty)) {
            end(&mut child);
            return None;
        }
        if Instant::now() >= deadline {
            end(&mut child);
            let text = format!(
                "Health check exceeded timeout ({})",
                crate::go_duration::format(timeout)
            );
            return Some((-1, text));
        }
    }
}

/// Kills the exec helper; the probe dies with it (its parent-death signal).
fn end(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts the exec helper with stdout and stderr on one non-blocking pipe.
fn spawn_probe(req: &ExecRequest) -> Result<(Child, OwnedFd), String> {
    let json = serde_json::to_string(req).map_err(|e| e.to_string())?;
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(|e| format!("creating a pipe: {e}"))?;
    // The command's end blocks as usual.
    let _ = nix::fcntl::fcntl(w.as_fd(), nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()));
    let w2 = w.try_clone().map_err(|e| format!("creating a pipe: {e}"))?;
    let child = Command::new("/proc/self/exe")
        .arg(exec::MARKER)
        .arg(json)
        .stdin(Stdio::null())
        .stdout(Stdio::from(w))
        .stderr(Stdio::from(w2))
        .spawn()
        .map_err(|e| format!("starting the health check: {e}"))?;
    Ok((child, r))
}

/// Up to [`OUTPUT_MAX`] bytes; what is beyond is dropped and marked `...`.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Output {
    /// Reads what the pipe holds now.
    fn read_from(&mut self, fd: &OwnedFd) {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = nix::unistd::read(fd, &mut buf) {
            self.push(&buf[..n]);
        }
    }

    fn push(&mut self, data: &[u8]) {
        let room = OUTPUT_MAX.saturating_sub(self.bytes.len());
        let keep = room.min(data.len());
        self.bytes.extend_from_slice(&data[..keep]);
        self.truncated |= keep < data.len();
    }

    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.truncated {
            text.push_str("...");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn probe(exit_code: i32, output: &str) -> Probe {
        Probe {
            start: "s".into(),
            end: "e".into(),
            exit_code,
            output: output.into(),
        }
    }

    #[test]
    fn checks_read_docker_config_with_its_defaults() {
        let c =
            Check::from_config(&json!({"Test": ["CMD-SHELL", "true"], "Interval": 200_000_000}))
                .unwrap();
        assert_eq!(c.command, ["/bin/sh", "-c", "true"]);
        assert_eq!(c.interval, Duration::from_millis(200));
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.start_period, Duration::ZERO);
        assert_eq!(c.retries, 3);
        let c = Check::from_config(&json!({"Test": ["CMD", "cat", "/x"], "Retries": 1})).unwrap();
        assert_eq!((c.command, c.retries), (vec!["cat".into(), "/x".into()], 1));
        for none in [
            json!({"Test": ["NONE"]}),
            json!({"Test": []}),
            json!({"Test": ["CMD"]}),
            json!({"Test": ["SHELL", "x"]}),
            json!({}),
        ] {
            assert_eq!(Check::from_config(&none), None, "{none}");
        }
    }

    #[test]
    fn retries_failures_in_a_row_make_it_unhealthy_and_one_success_healthy() {
        let mut h = Health::default();
        h.record(probe(1, "a"), false, 2);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 1));
        h.record(probe(2, "b"), false, 2);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
        h.record(probe(0, "c"), false, 2);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
        let changes: Vec<_> = h.changes.iter().map(|c| (c.seq, c.status)).collect();
        assert_eq!(
            changes,
            [(1, HealthStatus::Unhealthy), (2, HealthStatus::Healthy)]
        );
        h.restart();
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(h.log.len(), 3, "a restart keeps the log");
    }

    #[test]
    fn the_start_period_forgives_failures_only_while_starting() {
        let mut h = Health::default();
        for _ in 0..5 {
            h.record(probe(1, ""), true, 1);
        }
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        h.record(probe(0, ""), true, 1);
        h.record(probe(1, ""), true, 1);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 1));
    }

    #[test]
    fn the_log_keeps_the_last_five() {
        let mut h = Health::default();
        for i in 0..7 {
            h.record(probe(0, &i.to_string()), false, 3);
        }
        let outputs: Vec<_> = h.log.iter().map(|p| p.output.as_str()).collect();
        assert_eq!(outputs, ["2", "3", "4", "5", "6"]);
        assert_eq!(h.changes.len(), 1, "healthy once");
    }

    #[test]
    fn output_is_cut_at_4096_bytes_and_marked() {
        let mut o = Output::default();
        o.push(&[b'x'; 4000]);
        assert_eq!(o.text().len(), 4000);
        o.push(&[b'y'; 200]);
        let text = o.text();
        assert_eq!(text.len(), OUTPUT_MAX + 3);
        assert!(text.ends_with("yyy..."), "{}", &text[4090..]);
    }
}
