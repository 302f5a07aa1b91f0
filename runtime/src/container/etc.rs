//! The generated /etc/hosts, /etc/hostname and /etc/resolv.conf, as Docker
//! writes them for each network mode.

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::process::rootfs::EtcFiles;

const LOCAL_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Docker's fallback when the host's resolvers are all on loopback, which
/// a private network namespace cannot reach.
const FALLBACK_DNS: &str = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";

/// Spec annotation carrying extra /etc/hosts lines (`--link`'s entries),
/// one `IP\tNAMES` per line, appended after the standard ones as Docker
/// appends link entries.
pub const HOSTS_ANNOTATION: &str = "org.kiln.hosts";

pub fn files(spec: &Spec) -> EtcFiles {
    let mut files = base_files(spec);
    let extra = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(HOSTS_ANNOTATION));
    if let Some(lines) = extra {
        files.hosts.push_str(lines);
        if !lines.ends_with('\n') {
            files.hosts.push('\n');
        }
    }
    files
}

fn base_files(spec: &Spec) -> EtcFiles {
    let host_network = !spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
    let hostname = spec.hostname().clone().unwrap_or_default();
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if host_network {
        return EtcFiles {
            hosts: std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| LOCAL_HOSTS.into()),
            hostname: format!("{hostname}\n"),
            resolv_conf: host_resolv,
        };
    }
    EtcFiles {
        hosts: LOCAL_HOSTS.into(),
        hostname: format!("{hostname}\n"),
        resolv_conf: private_resolv(&host_resolv),
    }
}

/// The host's resolv.conf without loopback nameservers (moby's
/// `resolvconf.FilterResolvDNS`).
fn private_resolv(host: &str) -> String {
    let kept: Vec<&str> = host
        .lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            !(words.next() == Some("nameserver")
                && words
                    .next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .collect();
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if !kept
        .iter()
        .any(|l| l.trim_start().starts_with("nameserver"))
    {
        text.push_str(FALLBACK_DNS);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_dropped() {
        let text = private_resolv("search lan\nnameserver 127.0.0.53\n");
        assert_eq!(text, format!("search lan\n{FALLBACK_DNS}"));
        assert_eq!(
            private_resolv("nameserver 10.0.0.1\n"),
            "nameserver 10.0.0.1\n"
        );
    }
}
