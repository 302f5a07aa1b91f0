//! `--sysctl`: kernel parameters written under /proc/sys by the
//! container's first process once it stands in its own network and IPC
//! namespaces and before its root changes, so a `net.*` key reaches the
//! container's network namespace and a `kernel.msg*` key its IPC one,
//! never the host's. Which keys are allowed is the caller's check; this
//! refuses any key that is not a plain dotted name, so no key can name a
//! path outside /proc/sys.

use std::path::PathBuf;

/// Writes each `key=value`; the first failure is the error.
pub fn apply<'a>(
    sysctls: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), String> {
    for (key, value) in sysctls {
        let path =
            path_of(key).ok_or_else(|| format!("sysctl {key:?} is not a kernel parameter name"))?;
        std::fs::write(&path, value).map_err(|e| format!("sysctl {key}={value}: {e}"))?;
    }
    Ok(())
}

/// `net.ipv4.ip_forward` → /proc/sys/net/ipv4/ip_forward.
fn path_of(key: &str) -> Option<PathBuf> {
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    key.split('.')
        .all(plain)
        .then(|| PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_dotted_names_under_proc_sys() {
        assert_eq!(
            path_of("net.ipv4.ip_forward"),
            Some(PathBuf::from("/proc/sys/net/ipv4/ip_forward"))
        );
        for bad in ["net/../../etc/passwd", "net..x", "", "net.ipv4.", "net.a b"] {
            assert_eq!(path_of(bad), None, "{bad}");
        }
    }
}
