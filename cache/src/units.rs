//! Sizes, durations and times written and read the way Docker's CLI does
//! (its go-units package), so kiln's tables read like Docker's and its
//! flags take the same values.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitsError {
    #[error("invalid size: {0:?}")]
    Size(String),
    #[error("invalid duration: {0:?}")]
    Duration(String),
}

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// `1.234MB`: decimal units, four significant digits (go-units HumanSize,
/// as `system df` and `cache du` print sizes).
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes, 4)
}

/// go-units HumanSizeWithPrecision: `images` and `history` print sizes
/// with three significant digits (`4.26MB`), `system df` with four.
pub fn human_size_with_precision(bytes: u64, digits: i32) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < DECIMAL_UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", significant(value, digits), DECIMAL_UNITS[unit])
}

const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// `7.755GiB`: binary units, four significant digits (go-units BytesSize,
/// as `info` prints memory and `stats` memory use).
pub fn bytes_size(bytes: u64) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < BINARY_UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{}{}", significant(value, 4), BINARY_UNITS[unit])
}

/// Go's `%.Ng` for 0 <= v < 1024: N significant digits, no trailing zeros.
fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let int_digits = (v.abs().log10().floor() as i32 + 1).max(1);
    let decimals = (digits - int_digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `3 days`, `About an hour`: go-units HumanDuration (callers add " ago").
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", secs / 3600 / 24 / 365)
}

/// `5GB`, `512m`, `1.5g`, `100`: a byte count in binary units, as Docker's
/// `--keep-storage` and `--memory` read it (go-units RAMInBytes).
pub fn parse_ram_bytes(s: &str) -> Result<u64, UnitsError> {
    let err = || UnitsError::Size(s.to_string());
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| err())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return Err(err()),
    };
    let bytes = value * 1024f64.powi(power);
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes as u64)
}

/// A word as Go's `strconv.ParseBool` reads it, as Docker reads its
/// boolean flag and option values.
pub fn parse_go_bool(word: &str) -> Option<bool> {
    match word {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `24h`, `1h30m`, `90s`, `1.5h`, `500ms`: a Go duration, as Docker's
/// `--filter until=` reads it.
pub fn parse_go_duration(s: &str) -> Result<Duration, UnitsError> {
    let err = || UnitsError::Duration(s.to_string());
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let value: f64 = rest[..n_end].parse().map_err(|_| err())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += value * seconds;
        rest = &rest[u_end..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| err())
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

struct Civil {
    y: i64,
    mo: u32,
    d: u32,
    h: u64,
    mi: u64,
    s: u64,
    nanos: u32,
}

fn civil(t: SystemTime) -> Civil {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Civil {
        y,
        mo,
        d,
        h: rem / 3600,
        mi: rem % 3600 / 60,
        s: rem % 60,
        nanos: since.subsec_nanos(),
    }
}

fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        return String::new();
    }
    format!(".{nanos:09}").trim_end_matches('0').to_string()
}

/// `2024-01-10 10:32:49.88 +0000 UTC`: Go's `time.Time` string, which
/// `buildx du --verbose` prints for "Created at".
pub fn go_time_string(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{} +0000 UTC",
        c.y,
        c.mo,
        c.d,
        c.h,
        c.mi,
        c.s,
        fraction(c.nanos)
    )
}

/// `2024-01-10T10:32:49.88Z`: RFC 3339 in UTC, as JSON output uses.
pub fn rfc3339(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z",
        c.y,
        c.mo,
        c.d,
        c.h,
        c.mi,
        c.s,
        fraction(c.nanos)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(8192), "8.192kB");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(1_200_000_000), "1.2GB");
        assert_eq!(human_size(20_480), "20.48kB");
        // `images` and `history`: three significant digits.
        assert_eq!(human_size_with_precision(4_261_000, 3), "4.26MB");
        assert_eq!(human_size_with_precision(12_345, 3), "12.3kB");
        assert_eq!(human_size_with_precision(1_500_000_000, 3), "1.5GB");
        // `info` and `stats`: binary units.
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(8_326_864_896), "7.755GiB");
        assert_eq!(bytes_size(1023 << 10), "1023KiB");
    }

    #[test]
    fn hours_round_as_go_units_does() {
        // 1 h 40 min: go-units rounds to "2 hours"; truncating said "About an hour".
        assert_eq!(human_duration(Duration::from_secs(6000)), "2 hours");
    }

    #[test]
    fn durations_print_like_go_units() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(10)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(45)), "45 seconds");
        assert_eq!(human_duration(s(90)), "About a minute");
        assert_eq!(human_duration(s(600)), "10 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86_400)), "3 days");
        assert_eq!(human_duration(s(20 * 86_400)), "2 weeks");
        assert_eq!(human_duration(s(90 * 86_400)), "3 months");
        assert_eq!(human_duration(s(800 * 86_400)), "2 years");
    }

    #[test]
    fn reads_docker_sizes_in_binary_units() {
        assert_eq!(parse_ram_bytes("5GB"), Ok(5 << 30));
        assert_eq!(parse_ram_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_ram_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_ram_bytes("100"), Ok(100));
        assert_eq!(parse_ram_bytes("10 KiB"), Ok(10 << 10));
        assert!(parse_ram_bytes("5XB").is_err());
        assert!(parse_ram_bytes("").is_err());
        assert!(parse_ram_bytes("-1").is_err());
    }

    #[test]
    fn reads_go_durations() {
        assert_eq!(parse_go_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "24", "h", "1d", "-1h", "1h 30m"] {
            assert!(parse_go_duration(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn prints_times_in_utc() {
        let t = UNIX_EPOCH + Duration::new(1_704_882_769, 880_000_000);
        assert_eq!(go_time_string(t), "2024-01-10 10:32:49.88 +0000 UTC");
        assert_eq!(rfc3339(t), "2024-01-10T10:32:49.88Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
