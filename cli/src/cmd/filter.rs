//! Reading Docker's `--filter` and time flags: a prune's filters
//! (`container prune`, `volume prune`, `system prune --filter …`) into the
//! engine's [`Filters`] (`until=TIME` keeps what was created before TIME;
//! `label=K`, `label=K=V` keep only what carries that label, and
//! `label!=K`, `label!=K=V` only what does not), and the times `events
//! --since/--until` take. TIME is a Unix timestamp, an RFC 3339 date or
//! date-time, or a Go duration before now (`10m`, `1h30m`), as Docker
//! takes it.

use std::time::{Duration, SystemTime};

use kiln_engine::filter::{Filters, LabelFilter};

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

/// Parses a prune's `--filter` values; `allowed` names the keys the
/// command takes (`until`, `label`; `label!=` comes with `label`).
pub fn parse(args: &[String], allowed: &[&str]) -> Result<Filters, Error> {
    let mut f = Filters::default();
    for arg in args {
        let (key, value) = split(arg)?;
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
            f.until = Some(parse_time(value, SystemTime::now())?);
            continue;
        }
        f.labels.push(LabelFilter::parse(value, negated));
    }
    Ok(f)
}

/// clap's check of a `--filter` value, so that one without `=` is a
/// usage error (exit 125) with Docker's words.
pub fn key_value(arg: &str) -> Result<String, String> {
    match arg.contains('=') {
        true => Ok(arg.to_string()),
        false => Err("bad format of filter (expected name=value)".into()),
    }
}

/// One `--filter` value, `KEY=VALUE`.
pub fn split(arg: &str) -> Result<(&str, &str), Error> {
    arg.split_once('=').ok_or_else(|| Error::Syntax(arg.into()))
}

/// Docker's `until` (and `events --since`): a timestamp or a duration
/// back from `now`.
pub fn parse_time(text: &str, now: SystemTime) -> Result<SystemTime, Error> {
    let bad = || Error::Until(text.into());
    if let Ok(secs) = text.parse::<f64>() {
        // A finite but huge number overflows `Duration` or `SystemTime`:
        // an invalid time, as a negative or infinite one is.
        return Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| SystemTime::UNIX_EPOCH.checked_add(d))
            .ok_or_else(bad);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(args: &[&str], allowed: &[&str]) -> Result<Filters, Error> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&args, allowed)
    }

    fn both(args: &[&str]) -> Result<Filters, Error> {
        parse_all(args, &["until", "label"])
    }

    #[test]
    fn labels_are_read_with_and_without_values() {
        let f = both(&["label=tier=web", "label!=keep", "label=a=b=c"]).unwrap();
        assert_eq!(
            f.labels,
            vec![
                LabelFilter {
                    key: "tier".into(),
                    value: Some("web".into()),
                    negated: false,
                },
                LabelFilter {
                    key: "keep".into(),
                    value: None,
                    negated: true,
                },
                LabelFilter {
                    key: "a".into(),
                    value: Some("b=c".into()),
                    negated: false,
                },
            ]
        );
        assert_eq!(f.labels[0].value.as_deref(), Some("web"));
        assert_eq!(both(&[]).unwrap(), Filters::default());
    }

    #[test]
    fn until_takes_timestamps_dates_and_durations() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |s| parse_time(s, now).unwrap();
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
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
        let f = both(&["until=1600000000"]).unwrap();
        assert_eq!(f.until, Some(at("1600000000")));
    }

    #[test]
    fn bad_filters_are_refused() {
        assert!(matches!(
            both(&["status=exited"]),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            both(&["until!=1"]),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(both(&["label"]), Err(Error::Syntax(_))));
        assert_eq!(both(&["until=1", "until=2"]), Err(Error::TwoUntils));
        assert!(parse_all(&["until=1h"], &["label"]).is_err());
    }
}
