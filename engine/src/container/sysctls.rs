//! `--sysctl KEY=VALUE`: only the kernel parameters a container's own
//! namespaces hold, as Docker's CLI allows them (IPC: `kernel.msg*`,
//! `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`; network: `net.*`), and
//! `net.*` only in a network namespace of the container's own.

use std::collections::HashMap;

use crate::Error;

const IPC_KEYS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];
const PREFIXES: [&str; 2] = ["net.", "fs.mqueue."];

/// The checked `KEY=VALUE`s; `network` is `--network`'s value.
pub(super) fn sysctls(values: &[String], network: &str) -> Result<HashMap<String, String>, Error> {
    let mut all = HashMap::new();
    for value in values {
        let bad = |reason: String| Error::BadFlag {
            flag: "--sysctl",
            value: value.clone(),
            reason,
        };
        let not_allowed = || bad(format!("sysctl '{value}' is not whitelisted"));
        let (key, setting) = value.split_once('=').ok_or_else(not_allowed)?;
        let allowed = IPC_KEYS.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p));
        if !allowed || !plain_name(key) {
            return Err(not_allowed());
        }
        if key.starts_with("net.") && network == "host" {
            return Err(bad(format!(
                "sysctl '{value}' is not allowed in host network mode"
            )));
        }
        all.insert(key.to_string(), setting.to_string());
    }
    Ok(all)
}

/// Dotted words only: a key becomes a path under /proc/sys.
fn plain_name(key: &str) -> bool {
    key.split('.').all(|w| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str, network: &str) -> Result<HashMap<String, String>, Error> {
        sysctls(&[value.to_string()], network)
    }

    #[test]
    fn namespaced_keys_are_allowed() {
        let s = one("net.ipv4.ip_forward=1", "private").unwrap();
        assert_eq!(s["net.ipv4.ip_forward"], "1");
        assert_eq!(
            one("kernel.msgmax=65536", "host").unwrap()["kernel.msgmax"],
            "65536"
        );
        assert_eq!(
            one("kernel.sem=250 32000 32 128", "none").unwrap()["kernel.sem"],
            "250 32000 32 128"
        );
    }

    #[test]
    fn host_wide_and_malformed_keys_are_refused() {
        for bad in [
            "kernel.hostname=x",
            "vm.swappiness=1",
            "net.ipv4.ip_forward",
            "net/../../x=1",
            "net..a=1",
        ] {
            let err = one(bad, "private").unwrap_err().to_string();
            assert!(
                err.contains("not whitelisted") && err.contains("--sysctl"),
                "{bad}: {err}"
            );
        }
        let err = one("net.ipv4.ip_forward=1", "host")
            .unwrap_err()
            .to_string();
        assert!(err.contains("host network mode"), "{err}");
    }
}
