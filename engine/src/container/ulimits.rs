//! `--ulimit NAME=SOFT[:HARD]` as go-units' `ParseUlimit` reads it, into
//! the runtime spec's rlimits.

use oci_spec::runtime::{PosixRlimit, PosixRlimitBuilder, PosixRlimitType};

use crate::Error;

/// Docker's names and the rlimit each stands for.
const NAMES: [(&str, PosixRlimitType); 16] = [
    ("as", PosixRlimitType::RlimitAs),
    ("core", PosixRlimitType::RlimitCore),
    ("cpu", PosixRlimitType::RlimitCpu),
    ("data", PosixRlimitType::RlimitData),
    ("fsize", PosixRlimitType::RlimitFsize),
    ("locks", PosixRlimitType::RlimitLocks),
    ("memlock", PosixRlimitType::RlimitMemlock),
    ("msgqueue", PosixRlimitType::RlimitMsgqueue),
    ("nice", PosixRlimitType::RlimitNice),
    ("nofile", PosixRlimitType::RlimitNofile),
    ("nproc", PosixRlimitType::RlimitNproc),
    ("rss", PosixRlimitType::RlimitRss),
    ("rtprio", PosixRlimitType::RlimitRtprio),
    ("rttime", PosixRlimitType::RlimitRttime),
    ("sigpending", PosixRlimitType::RlimitSigpending),
    ("stack", PosixRlimitType::RlimitStack),
];

/// Every `--ulimit`; a name given twice keeps the last, as Docker's map does.
pub(super) fn rlimits(values: &[String]) -> Result<Vec<PosixRlimit>, Error> {
    let mut all: Vec<PosixRlimit> = Vec::new();
    for value in values {
        let r = parse(value)?;
        all.retain(|o| o.typ() != r.typ());
        all.push(r);
    }
    Ok(all)
}

fn bad(value: &str, reason: String) -> Error {
    Error::BadFlag {
        flag: "--ulimit",
        value: value.to_string(),
        reason,
    }
}

fn parse(value: &str) -> Result<PosixRlimit, Error> {
    let Some((name, limits)) = value.split_once('=') else {
        return Err(bad(value, format!("invalid ulimit argument: {value}")));
    };
    let Some(&(_, typ)) = NAMES.iter().find(|(n, _)| *n == name) else {
        return Err(bad(value, format!("invalid ulimit type: {name}")));
    };
    let number = |text: &str| -> Result<u64, Error> {
        match text.parse::<i64>() {
            // -1 is unlimited (RLIM_INFINITY).
            Ok(-1) => Ok(u64::MAX),
            Ok(n) if n >= 0 => Ok(n as u64),
            _ => Err(bad(value, format!("invalid ulimit value {text:?}"))),
        }
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((s, h)) => (number(s)?, number(h)?),
        None => (number(limits)?, number(limits)?),
    };
    if soft > hard {
        let why =
            format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
        return Err(bad(value, why));
    }
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()
        .map_err(|e| bad(value, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_and_hard_limits_are_read() {
        let r = parse("nofile=1024:2048").unwrap();
        assert_eq!(
            (r.typ(), r.soft(), r.hard()),
            (PosixRlimitType::RlimitNofile, 1024, 2048)
        );
        let r = parse("nproc=50").unwrap();
        assert_eq!((r.soft(), r.hard()), (50, 50));
        assert_eq!(parse("core=-1").unwrap().hard(), u64::MAX);
        let both = rlimits(&["nofile=1".into(), "nofile=2".into()]).unwrap();
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].soft(), 2);
    }

    #[test]
    fn bad_values_say_why() {
        let err = |v: &str| parse(v).unwrap_err().to_string();
        assert!(err("nofile").contains("invalid ulimit argument: nofile"));
        assert!(err("files=1").contains("invalid ulimit type: files"));
        assert!(err("nofile=x").contains("invalid ulimit value \"x\""));
        assert!(err("nofile=-5").contains("--ulimit"));
        assert!(err("nofile=2048:1024").contains("2048 > 1024"));
    }
}
