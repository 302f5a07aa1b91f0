//! `--log-driver` and `--log-opt`: Docker's `HostConfig.LogConfig`,
//! checked as Docker's daemon checks it. kiln keeps logs in Docker's
//! json-file format; `local` is kept the same way (with its own default
//! rotation), `none` keeps nothing.

use std::collections::BTreeMap;

use kiln_runtime::container::logs::LogConfig;

use super::options::CreateOptions;
use crate::Error;

/// Drivers Docker has that kiln does not.
const OTHER_DRIVERS: [&str; 9] = [
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "etwlogs",
    "gcplogs",
    "logentries",
];

/// Options Docker's json-file driver takes; the ones past `compress`
/// only tag entries for other drivers' readers and change nothing here.
const JSON_FILE_OPTS: [&str; 8] = [
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];
const LOCAL_OPTS: [&str; 3] = ["max-size", "max-file", "compress"];

/// The configuration `opts` asks for, refused as Docker refuses it.
pub(super) fn log_config(opts: &CreateOptions) -> Result<LogConfig, Error> {
    let driver = match opts.log_driver.as_deref().map(str::trim) {
        None | Some("") => "json-file",
        Some(d) => d,
    };
    let allowed: &[&str] = match driver {
        "json-file" => &JSON_FILE_OPTS,
        "local" => &LOCAL_OPTS,
        "none" => &[],
        other if OTHER_DRIVERS.contains(&other) => {
            return Err(bad_driver(
                other,
                "kiln has the json-file, local and none logging drivers",
            ))
        }
        other => {
            let reason = format!("logger: no log driver named '{other}' is registered");
            return Err(bad_driver(other, &reason));
        }
    };
    let options = split(&opts.log_opts)?;
    if driver == "none" && !options.is_empty() {
        let given = opts.log_opts.join(",");
        return Err(bad_opt(&given, "invalid logging opts for driver none"));
    }
    for (key, value) in &options {
        if !allowed.contains(&key.as_str()) {
            let reason = format!("unknown log opt '{key}' for {driver} log driver");
            return Err(bad_opt(&format!("{key}={value}"), &reason));
        }
        check_value(key, value)?;
    }
    Ok(LogConfig {
        driver: driver.to_string(),
        options,
    })
}

/// `KEY=VALUE` pieces, one per flag or several joined by commas; a piece
/// without `=` continues the value before it (`labels=a,b`).
fn split(given: &[String]) -> Result<BTreeMap<String, String>, Error> {
    let mut options = BTreeMap::new();
    for flag in given {
        let mut last: Option<String> = None;
        for piece in flag.split(',') {
            match (piece.split_once('='), &last) {
                (Some((key, value)), _) => {
                    let key = key.trim().to_string();
                    if key.is_empty() {
                        return Err(bad_opt(flag, "a log option needs a KEY=VALUE"));
                    }
                    options.insert(key.clone(), value.to_string());
                    last = Some(key);
                }
                (None, Some(key)) => {
                    if let Some(v) = options.get_mut(key) {
                        v.push(',');
                        v.push_str(piece);
                    }
                }
                (None, None) => {
                    return Err(bad_opt(flag, "a log option needs a KEY=VALUE"));
                }
            }
        }
    }
    Ok(options)
}

fn check_value(key: &str, value: &str) -> Result<(), Error> {
    let given = format!("{key}={value}");
    match key {
        "max-size" => match kiln_runtime::spec::parse_bytes(value) {
            None => Err(bad_opt(&given, &format!("invalid size: '{value}'"))),
            Some(n) if n <= 0 => Err(bad_opt(&given, "max-size must be a positive number")),
            Some(_) => Ok(()),
        },
        "max-file" => match value.trim().parse::<i64>() {
            Err(_) => Err(bad_opt(
                &given,
                &format!("strconv.Atoi: parsing {value:?}: invalid syntax"),
            )),
            Ok(n) if n < 1 => Err(bad_opt(&given, "max-file cannot be less than 1")),
            Ok(n) if n > 1000 => Err(bad_opt(&given, "kiln keeps at most 1000 log files")),
            Ok(_) => Ok(()),
        },
        "compress" => match kiln_cache::units::parse_go_bool(value) {
            None => Err(bad_opt(
                &given,
                &format!("strconv.ParseBool: parsing {value:?}: invalid syntax"),
            )),
            Some(true) => Err(bad_opt(&given, "kiln does not compress rotated logs")),
            Some(false) => Ok(()),
        },
        _ => Ok(()),
    }
}

fn bad_driver(value: &str, reason: &str) -> Error {
    Error::BadFlag {
        flag: "--log-driver",
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn bad_opt(value: &str, reason: &str) -> Error {
    Error::BadFlag {
        flag: "--log-opt",
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(driver: Option<&str>, opts: &[&str]) -> Result<LogConfig, Error> {
        log_config(&CreateOptions {
            log_driver: driver.map(str::to_string),
            log_opts: opts.iter().map(|o| o.to_string()).collect(),
            ..CreateOptions::default()
        })
    }

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_is_json_file_with_no_options() {
        assert_eq!(config(None, &[]).unwrap(), LogConfig::default());
    }

    #[test]
    fn options_come_one_per_flag_or_joined_by_commas() {
        let want = options(&[("max-file", "3"), ("max-size", "10m")]);
        let joined = config(Some("json-file"), &["max-size=10m,max-file=3"]).unwrap();
        assert_eq!(joined.options, want);
        let apart = config(None, &["max-size=10m", "max-file=3"]).unwrap();
        assert_eq!(apart.options, want);
        let labels = config(None, &["labels=a,b", "tag=x"]).unwrap();
        assert_eq!(labels.options, options(&[("labels", "a,b"), ("tag", "x")]));
        assert_eq!(config(Some("local"), &[]).unwrap().driver, "local");
    }

    #[test]
    fn bad_drivers_and_options_are_refused_naming_the_flag() {
        let text = |r: Result<LogConfig, Error>| r.unwrap_err().to_string();
        assert!(text(config(Some("foo"), &[])).contains("--log-driver"));
        assert!(text(config(Some("syslog"), &[])).contains("json-file, local and none"));
        let unknown = text(config(None, &["frob=1"]));
        assert!(unknown.contains("--log-opt") && unknown.contains("unknown log opt 'frob'"));
        assert!(text(config(Some("local"), &["tag=x"])).contains("for local log driver"));
        assert!(text(config(Some("none"), &["max-size=1m"])).contains("driver none"));
        for bad in [
            "max-size=lots",
            "max-size=0",
            "max-file=0",
            "max-file=x",
            "max-file=99999",
            "compress=maybe",
            "compress=true",
            "nokey",
            "=v",
        ] {
            assert!(text(config(None, &[bad])).contains("--log-opt"), "{bad}");
        }
    }
}
