//! History's `created_by` texts as BuildKit writes them: Go's `fmt` verbs
//! over its config types (`%q` of a `[]string`, `%+v` of a
//! `HealthcheckConfig`, `time.Duration`'s `String`).

use std::time::Duration;

use kiln_parser::ast::{CommandLine, Healthcheck};

/// Go's `%q` of a `[]string`: `["/bin/sh" "-c" "echo \"hi\""]`.
pub fn go_quoted(list: &[String]) -> String {
    let quoted: Vec<String> = list
        .iter()
        .map(|s| kiln_parser::quote(s.as_bytes()))
        .collect();
    format!("[{}]", quoted.join(" "))
}

/// `HEALTHCHECK {Test:[CMD true] Interval:5s Timeout:0s StartPeriod:0s
/// StartInterval:0s Retries:2}`: BuildKit's `%+v` of the config.
pub fn healthcheck(h: &Healthcheck) -> String {
    let zero = Duration::ZERO;
    let (test, interval, timeout, start, start_interval, retries) = match h {
        Healthcheck::None => (vec!["NONE".to_string()], zero, zero, zero, zero, 0),
        Healthcheck::Cmd(c) => {
            let test = match &c.command {
                CommandLine::Exec(a) => std::iter::once("CMD".to_string())
                    .chain(a.iter().cloned())
                    .collect(),
                CommandLine::Shell(t) => vec!["CMD-SHELL".to_string(), t.clone()],
            };
            (
                test,
                c.interval.unwrap_or(zero),
                c.timeout.unwrap_or(zero),
                c.start_period.unwrap_or(zero),
                c.start_interval.unwrap_or(zero),
                c.retries.unwrap_or(0),
            )
        }
    };
    format!(
        "HEALTHCHECK {{Test:[{}] Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{retries}}}",
        test.join(" "),
        go_duration(interval),
        go_duration(timeout),
        go_duration(start),
        go_duration(start_interval),
    )
}

/// Go's `time.Duration.String`: `0s`, `1.5s`, `1m30s`, `2h0m0s`, `250ms`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", fraction(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", fraction(ns, 1_000_000));
    }
    let secs = ns / 1_000_000_000;
    let seconds = fraction(ns % 60_000_000_000, 1_000_000_000);
    let (h, m) = (secs / 3600, secs / 60 % 60);
    match (h, m) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `n / unit` in decimal, without trailing zeros after the point.
fn fraction(n: u128, unit: u128) -> String {
    let (whole, rest) = (n / unit, n % unit);
    if rest == 0 {
        return whole.to_string();
    }
    let digits = unit.to_string().len() - 1;
    let frac = format!("{rest:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_prints_them() {
        let cases = [
            (0, "0s"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (250_000_000, "250ms"),
            (5_000_000_000, "5s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (7_200_000_000_000, "2h0m0s"),
            (3_661_000_000_000, "1h1m1s"),
        ];
        for (ns, want) in cases {
            assert_eq!(go_duration(Duration::from_nanos(ns)), want, "{ns}");
        }
    }

    #[test]
    fn lists_are_quoted_as_go_quotes_them() {
        let list = ["/bin/sh", "-c", "echo \"hi\"\t"].map(String::from);
        assert_eq!(go_quoted(&list), r#"["/bin/sh" "-c" "echo \"hi\"\t"]"#);
    }
}
