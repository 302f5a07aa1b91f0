//! `--pid`, `--ipc` and `--uts`: the container's own namespaces (the
//! default) or the host's (`host`), checked as Docker checks them.

use kiln_runtime::spec::HostNamespaces;

use super::options::CreateOptions;
use crate::Error;

/// Which namespaces are the host's, from the three flags; Docker's other
/// modes (another container's namespaces, `none`) are refused by name.
pub(super) fn host_namespaces(opts: &CreateOptions) -> Result<HostNamespaces, Error> {
    let host = HostNamespaces {
        pid: mode("--pid", opts.pid.as_deref(), &[])?,
        ipc: mode("--ipc", opts.ipc.as_deref(), &["private", "shareable"])?,
        uts: mode("--uts", opts.uts.as_deref(), &[])?,
    };
    if host.uts && opts.hostname.is_some() {
        return Err(conflict("hostname", "UTS"));
    }
    if host.ipc && opts.sysctls.iter().any(|s| is_ipc_sysctl(s)) {
        return Err(conflict(
            "--sysctl kernel.msg*/sem/shm* or fs.mqueue.*",
            "IPC",
        ));
    }
    Ok(host)
}

/// `host` is true; empty, unset, or one of `own` (names of the container's
/// own namespace) is false.
fn mode(flag: &'static str, value: Option<&str>, own: &[&str]) -> Result<bool, Error> {
    match value.unwrap_or("") {
        "host" => Ok(true),
        "" => Ok(false),
        v if own.contains(&v) => Ok(false),
        v => Err(Error::BadFlag {
            flag,
            value: v.to_string(),
            reason: format!(
                "kiln supports host, or the container's own namespace{}",
                own.iter().map(|o| format!(" ({o})")).collect::<String>()
            ),
        }),
    }
}

fn conflict(what: &'static str, namespace: &'static str) -> Error {
    Error::ConflictsWithNamespace { what, namespace }
}

/// The sysctls of an IPC namespace, which the host's must not take.
fn is_ipc_sysctl(setting: &str) -> bool {
    let key = setting.split('=').next().unwrap_or("");
    key.starts_with("kernel.msg")
        || key.starts_with("kernel.shm")
        || key == "kernel.sem"
        || key.starts_with("fs.mqueue.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pid: &str, ipc: &str, uts: &str) -> CreateOptions {
        let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
        CreateOptions {
            pid: some(pid),
            ipc: some(ipc),
            uts: some(uts),
            ..CreateOptions::default()
        }
    }

    #[test]
    fn host_or_own_and_nothing_else() {
        let all = host_namespaces(&opts("host", "host", "host")).unwrap();
        assert_eq!((all.pid, all.ipc, all.uts), (true, true, true));
        assert_eq!(
            host_namespaces(&opts("", "shareable", "")).unwrap(),
            HostNamespaces::default()
        );
        for bad in [
            opts("container:x", "", ""),
            opts("", "none", ""),
            opts("", "", "private"),
        ] {
            assert!(matches!(host_namespaces(&bad), Err(Error::BadFlag { .. })));
        }
    }

    #[test]
    fn the_hosts_namespaces_refuse_what_would_change_the_host() {
        let mut o = opts("", "", "host");
        o.hostname = Some("x".into());
        assert!(host_namespaces(&o).is_err());
        let mut o = opts("", "host", "");
        o.sysctls = vec!["kernel.msgmax=1".into()];
        assert!(host_namespaces(&o).is_err());
    }
}
