//! Health checks of containers. The `--health-*` flags are checked and
//! merged over the image's HEALTHCHECK as Docker merges them; the result
//! is the record's `Config.Healthcheck`, which the container's monitor
//! probes (runtime's `container::health`). This shows what it found:
//! `inspect`'s `State.Health`, `ps`'s status and `health=` filter, and the
//! `health_status` events, journaled (as exits are) by whichever kiln
//! process looks next, since the monitor knows no journal.

use std::fs::{self, File};
use std::time::Duration;

use kiln_cache::units::parse_go_duration;
use kiln_runtime::container::health::{Health, HealthStatus};
use kiln_runtime::container::state::{Container, State};
use serde_json::{json, Map, Value};

use super::options::HealthOptions;
use crate::events::Event;
use crate::filter::created_time;
use crate::{Engine, Error};

/// Docker's least interval, timeout and start period.
const MINIMUM: Duration = Duration::from_millis(1);

/// `<container>/health-event`: the last status change journaled.
const MARK: &str = "health-event";

/// The values `ps --filter health=` takes.
pub(super) const FILTER_VALUES: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];

/// The check the flags ask for (Docker's `HealthConfig`, zero fields
/// left out), or `None` when they ask for nothing. Refuses what Docker's
/// CLI and daemon refuse, naming the flag.
pub(super) fn healthcheck(o: &HealthOptions) -> Result<Option<Value>, Error> {
    let bad = |flag: &'static str, value: String, reason: String| Error::BadFlag {
        flag,
        value,
        reason,
    };
    let mut check = Map::new();
    if let Some(cmd) = o.cmd.as_deref().filter(|c| !c.is_empty()) {
        check.insert("Test".into(), json!(["CMD-SHELL", cmd]));
    }
    let durations = [
        ("--health-interval", "Interval", &o.interval),
        ("--health-timeout", "Timeout", &o.timeout),
        ("--health-start-period", "StartPeriod", &o.start_period),
    ];
    for (flag, field, value) in durations {
        let Some(text) = value else { continue };
        let d = go_duration(text).map_err(|reason| bad(flag, text.clone(), reason))?;
        if d > Duration::ZERO && d < MINIMUM {
            let reason = format!("{field} in Healthcheck cannot be less than 1ms");
            return Err(bad(flag, text.clone(), reason));
        }
        if d > Duration::ZERO {
            check.insert(field.into(), json!(d.as_nanos() as u64));
        }
    }
    match o.retries {
        Some(n) if n < 0 => {
            let reason = "cannot be negative".to_string();
            return Err(bad("--health-retries", n.to_string(), reason));
        }
        Some(n) if n > 0 => {
            check.insert("Retries".into(), json!(n));
        }
        _ => {}
    }
    match (o.disabled, check.is_empty()) {
        (true, false) => Err(bad(
            "--no-healthcheck",
            "true".into(),
            "conflicts with --health-* options".into(),
        )),
        (true, true) => Ok(Some(json!({"Test": ["NONE"]}))),
        (false, true) => Ok(None),
        (false, false) => Ok(Some(Value::Object(check))),
    }
}

/// A Go duration (`1m30s`, `500ms`, `-1s`); negative ones are refused.
fn go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let d = parse_go_duration(rest).map_err(|_| invalid())?;
    // Go's durations are nanoseconds in an int64.
    if d.as_nanos() > i64::MAX as u128 {
        return Err(invalid());
    }
    if negative && d > Duration::ZERO {
        return Err("cannot be negative".into());
    }
    Ok(d)
}

/// The container's check: the flags' fields over the image's, as Docker's
/// daemon merges them (a field the flags leave zero is the image's).
pub(super) fn merged(flags: Option<Value>, image: Option<&Value>) -> Option<Value> {
    let Some(mut flags) = flags else {
        return image.cloned();
    };
    let (Some(own), Some(image)) = (flags.as_object_mut(), image.and_then(Value::as_object)) else {
        return Some(flags);
    };
    for field in ["Test", "Interval", "Timeout", "StartPeriod", "Retries"] {
        if let (false, Some(v)) = (own.contains_key(field), image.get(field)) {
            own.insert(field.into(), v.clone());
        }
    }
    Some(flags)
}

/// `inspect`'s `State.Health`.
pub(super) fn state_json(h: &Health) -> Value {
    let log: Vec<Value> = h
        .log
        .iter()
        .map(|p| json!({"Start": p.start, "End": p.end, "ExitCode": p.exit_code, "Output": p.output}))
        .collect();
    json!({"Status": h.status.as_str(), "FailingStreak": h.failing_streak, "Log": log})
}

/// `Up 5 seconds` with the health Docker shows beside it.
pub(super) fn with_health(up: String, s: &State) -> String {
    match s.health.as_ref().map(|h| h.status) {
        None => up,
        Some(HealthStatus::Starting) => format!("{up} (health: starting)"),
        Some(status) => format!("{up} ({})", status.as_str()),
    }
}

/// The word `ps --filter health=` compares: `none` without a check.
pub(super) fn health_word(s: &State) -> &'static str {
    s.health.as_ref().map_or("none", |h| h.status.as_str())
}

impl Engine {
    /// Journals `c`'s health status changes not journaled yet, each as
    /// Docker's `health_status: STATUS` event at the time it happened.
    pub(crate) fn journal_health(&self, c: &Container) {
        let Some(h) = &c.state.health else { return };
        let newest = h.changes.last().map_or(0, |ch| ch.seq);
        if newest <= journaled(c) {
            return;
        }
        // Another process may journal the same changes: one at a time,
        // asking again under the lock.
        let Ok(lock) = File::create(c.dir.join("health-event.lock")) else {
            return;
        };
        if lock.lock().is_err() {
            return;
        }
        let seen = journaled(c);
        for ch in h.changes.iter().filter(|ch| ch.seq > seen) {
            let action = format!("health_status: {}", ch.status.as_str());
            let mut event = Event::container(&action, c);
            if let Some(when) = created_time(&ch.at) {
                event = event.dated(when);
            }
            if self.record_event(event).is_err()
                || fs::write(c.dir.join(MARK), ch.seq.to_string()).is_err()
            {
                return;
            }
        }
    }
}

/// The number of the last change journaled.
fn journaled(c: &Container) -> u64 {
    fs::read_to_string(c.dir.join(MARK))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(f: impl FnOnce(&mut HealthOptions)) -> Result<Option<Value>, Error> {
        let mut o = HealthOptions::default();
        f(&mut o);
        healthcheck(&o)
    }

    #[test]
    fn flags_make_docker_health_config() {
        assert_eq!(flags(|_| {}).unwrap(), None);
        let got = flags(|o| {
            o.cmd = Some("true".into());
            o.interval = Some("1m30s".into());
            o.timeout = Some("500ms".into());
            o.retries = Some(2);
        })
        .unwrap();
        let want = json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000u64,
                          "Timeout": 500_000_000, "Retries": 2});
        assert_eq!(got, Some(want));
        let none = flags(|o| o.disabled = true).unwrap();
        assert_eq!(none, Some(json!({"Test": ["NONE"]})));
        let zero = flags(|o| o.start_period = Some("0s".into())).unwrap();
        assert_eq!(zero, None, "a zero duration is no setting");
    }

    #[test]
    fn bad_flag_values_name_the_flag() {
        type Set = fn(&mut HealthOptions);
        let cases: [(Set, &str); 6] = [
            (
                |o| o.interval = Some("500us".into()),
                "\"--health-interval\" flag: Interval in Healthcheck cannot be less than 1ms",
            ),
            (
                |o| o.timeout = Some("-1s".into()),
                "\"--health-timeout\" flag: cannot be negative",
            ),
            (
                |o| o.start_period = Some("soon".into()),
                "\"--health-start-period\" flag: time: invalid duration \"soon\"",
            ),
            (
                |o| o.interval = Some("3000000h".into()),
                "time: invalid duration \"3000000h\"",
            ),
            (
                |o| o.retries = Some(-1),
                "\"--health-retries\" flag: cannot be negative",
            ),
            (
                |o| {
                    o.disabled = true;
                    o.cmd = Some("true".into());
                },
                "\"--no-healthcheck\" flag: conflicts with --health-* options",
            ),
        ];
        for (set, text) in cases {
            let err = flags(set).unwrap_err().to_string();
            assert!(err.contains(text), "{err}");
        }
    }

    #[test]
    fn flags_go_over_the_image_check_field_by_field() {
        let image = json!({"Test": ["CMD", "check"], "Interval": 5, "Retries": 7});
        let own = json!({"Interval": 9});
        assert_eq!(
            merged(Some(own), Some(&image)),
            Some(json!({"Test": ["CMD", "check"], "Interval": 9, "Retries": 7}))
        );
        assert_eq!(merged(None, Some(&image)), Some(image.clone()));
        let off = json!({"Test": ["NONE"]});
        assert_eq!(
            merged(Some(off.clone()), Some(&image)).unwrap()["Test"],
            off["Test"]
        );
        assert_eq!(merged(None, None), None);
    }

    #[test]
    fn ps_shows_health_beside_up() {
        let mut s = State::default();
        assert_eq!(with_health("Up 1 second".into(), &s), "Up 1 second");
        assert_eq!(health_word(&s), "none");
        s.health = Some(Health::default());
        assert_eq!(
            with_health("Up 1 second".into(), &s),
            "Up 1 second (health: starting)"
        );
        s.health.as_mut().unwrap().status = HealthStatus::Unhealthy;
        assert_eq!(with_health("Up".into(), &s), "Up (unhealthy)");
        assert_eq!(health_word(&s), "unhealthy");
    }
}
