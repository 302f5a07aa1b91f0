//! Durations as Go's `time.Duration.String` prints them, which is how
//! Docker shows them (image history of a HEALTHCHECK, a health probe's
//! timeout message).

use std::time::Duration;

/// `0s`, `1.5s`, `1m30s`, `2h0m0s`, `250ms`, `1.5µs`.
pub fn format(d: Duration) -> String {
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
            (1_500_000, "1.5ms"),
            (250_000_000, "250ms"),
            (500_000_000, "500ms"),
            (5_000_000_000, "5s"),
            (1_500_000_000, "1.5s"),
            (30_000_000_000, "30s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (7_200_000_000_000, "2h0m0s"),
            (3_661_000_000_000, "1h1m1s"),
        ];
        for (ns, want) in cases {
            assert_eq!(format(Duration::from_nanos(ns)), want, "{ns}");
        }
    }
}
