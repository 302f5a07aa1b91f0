//! History's `created_by` texts as BuildKit writes them: Go's `fmt` verbs
//! over its config types (`%q` of a `[]string`, `%+v` of a
//! `HealthcheckConfig`, `time.Duration`'s `String`).

use std::time::Duration;

use kiln_parser::ast::{CommandLine, Healthcheck};
use kiln_runtime::go_duration;

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
        go_duration::format(interval),
        go_duration::format(timeout),
        go_duration::format(start),
        go_duration::format(start_interval),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_quoted_as_go_quotes_them() {
        let list = ["/bin/sh", "-c", "echo \"hi\"\t"].map(String::from);
        assert_eq!(go_quoted(&list), r#"["/bin/sh" "-c" "echo \"hi\"\t"]"#);
    }
}
