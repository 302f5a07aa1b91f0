//! Docker's prune filters (`container prune`, `volume prune`, `system
//! prune --filter …`): `until=TIME` keeps what was created at or after
//! TIME; `label=K`, `label=K=V` keep only what carries that label, and
//! `label!=K`, `label!=K=V` only what does not. Several label filters must
//! all hold. TIME is a Unix timestamp, an RFC 3339 date or date-time, or a
//! Go duration before now (`10m`, `1h30m`), as Docker takes it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid filter {0:?}: use KEY=VALUE")]
    Syntax(String),
    #[error("invalid filter {key:?}: this command takes {allowed}")]
    Unsupported { key: String, allowed: String },
    #[error("invalid until {0:?}: use a timestamp, a date, or a duration like 10m")]
    Until(String),
    #[error("more than one until filter")]
    TwoUntils,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Label {
    key: String,
    value: Option<String>,
    /// `label!=`: the object must not carry it.
    negated: bool,
}

/// The parsed `--filter` flags of one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    until: Option<SystemTime>,
    labels: Vec<Label>,
}

impl Filters {
    /// Parses `--filter` values; `allowed` names the keys this command
    /// takes (`until`, `label`; `label!=` comes with `label`).
    pub fn parse(args: &[String], allowed: &[&str]) -> Result<Filters, Error> {
        let mut f = Filters::default();
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| Error::Syntax(arg.clone()))?;
            let (key, negated) = match key.strip_suffix('!') {
                Some(k) => (k, true),
                None => (key, false),
            };
            if !allowed.contains(&key) || (negated && key != "label") {
                return Err(Error::Unsupported {
                    key: key.into(),
                    allowed: allowed.join(", "),
                });
            }
            if key == "until" {
                if f.until.is_some() {
                    return Err(Error::TwoUntils);
                }
                f.until = Some(parse_until(value, SystemTime::now())?);
                continue;
            }
            let (k, v) = match value.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (value, None),
            };
            f.labels.push(Label {
                key: k.into(),
                value: v,
                negated,
            });
        }
        Ok(f)
    }

    /// Whether an object created at `created` with `labels` is selected.
    /// An unknown creation time never passes an `until` filter.
    pub fn matches(&self, created: Option<SystemTime>, labels: &BTreeMap<String, String>) -> bool {
        if let Some(until) = self.until {
            if created.is_none_or(|c| c >= until) {
                return false;
            }
        }
        self.labels.iter().all(|l| {
            let has = match (&l.value, labels.get(&l.key)) {
                (None, got) => got.is_some(),
                (Some(want), got) => got == Some(want),
            };
            has != l.negated
        })
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_none() && self.labels.is_empty()
    }

    /// The `until` time, if one was given.
    pub fn until(&self) -> Option<SystemTime> {
        self.until
    }

    pub fn has_labels(&self) -> bool {
        !self.labels.is_empty()
    }
}

/// Docker's `until`: a timestamp or a duration back from `now`.
fn parse_until(text: &str, now: SystemTime) -> Result<SystemTime, Error> {
    let bad = || Error::Until(text.into());
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
        return Err(bad());
    }
    if let Ok(d) = kiln_cache::units::parse_go_duration(text) {
        return now.checked_sub(d).ok_or_else(bad);
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    humantime::parse_rfc3339_weak(&full)
        .or_else(|_| humantime::parse_rfc3339(&full))
        .map_err(|_| bad())
}

/// The creation time a container or volume records (RFC 3339).
pub fn created_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(args: &[&str]) -> Result<Filters, Error> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Filters::parse(&args, &["until", "label"])
    }

    #[test]
    fn labels_select_as_docker_does() {
        let f = parse(&["label=tier=web", "label!=keep"]).unwrap();
        assert!(f.matches(None, &labels(&[("tier", "web")])));
        assert!(!f.matches(None, &labels(&[("tier", "web"), ("keep", "")])));
        assert!(!f.matches(None, &labels(&[("tier", "db")])));
        let f = parse(&["label=tier"]).unwrap();
        assert!(f.matches(None, &labels(&[("tier", "")])));
        assert!(!f.matches(None, &labels(&[])));
        let f = parse(&["label!=tier=db"]).unwrap();
        assert!(f.matches(None, &labels(&[("tier", "web")])));
        assert!(parse(&[]).unwrap().matches(None, &labels(&[])));
    }

    #[test]
    fn until_takes_timestamps_dates_and_durations() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |s| parse_until(s, now).unwrap();
        assert_eq!(
            at("1600000000"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000)
        );
        assert_eq!(at("1h30m"), now - Duration::from_secs(5400));
        assert_eq!(at("10m"), now - Duration::from_secs(600));
        assert_eq!(
            at("2020-09-13"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_599_955_200)
        );
        assert_eq!(
            at("2020-09-13T12:26:40Z"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000)
        );
        for bad in ["soon", "10x", "-5", "h"] {
            assert!(parse_until(bad, now).is_err(), "{bad}");
        }
        let f = parse(&["until=1600000000"]).unwrap();
        let before = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
        assert!(f.matches(Some(before), &labels(&[])));
        assert!(!f.matches(Some(now), &labels(&[])));
        assert!(!f.matches(None, &labels(&[])));
    }

    #[test]
    fn bad_filters_are_refused() {
        assert!(matches!(
            parse(&["status=exited"]),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            parse(&["until!=1"]),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(parse(&["label"]), Err(Error::Syntax(_))));
        assert_eq!(parse(&["until=1", "until=2"]), Err(Error::TwoUntils));
        let only_labels = Filters::parse(&["until=1h".into()], &["label"]);
        assert!(only_labels.is_err());
    }
}
