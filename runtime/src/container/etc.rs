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

/// Spec annotations carrying `--dns`, `--dns-search` and `--dns-option`,
/// one value per line; each one given replaces that part of the
/// resolv.conf the container would have had, as Docker's do.
pub const DNS_ANNOTATION: &str = "org.kiln.dns";
pub const DNS_SEARCH_ANNOTATION: &str = "org.kiln.dns-search";
pub const DNS_OPTIONS_ANNOTATION: &str = "org.kiln.dns-options";

pub fn files(spec: &Spec) -> EtcFiles {
    let mut files = base_files(spec);
    let note = |key: &str| -> Vec<String> {
        let text = spec.annotations().as_ref().and_then(|a| a.get(key));
        text.map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let (dns, search, options) = (
        note(DNS_ANNOTATION),
        note(DNS_SEARCH_ANNOTATION),
        note(DNS_OPTIONS_ANNOTATION),
    );
    if !(dns.is_empty() && search.is_empty() && options.is_empty()) {
        files.resolv_conf = resolv_with(&files.resolv_conf, &dns, &search, &options);
    }
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

/// moby's `resolvconf.Build` over `base`: its nameservers, search
/// domains and options, each replaced by the given ones when there are
/// any; a search of `.` is none.
fn resolv_with(base: &str, dns: &[String], search: &[String], options: &[String]) -> String {
    let words = |key: &str| -> Vec<String> {
        base.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(key)).then(|| w.map(str::to_string).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    };
    let pick = |given: &[String], key: &str| {
        if given.is_empty() {
            words(key)
        } else {
            given.to_vec()
        }
    };
    let (dns, search, options) = (
        pick(dns, "nameserver"),
        pick(search, "search"),
        pick(options, "options"),
    );
    let mut text = String::new();
    let search = search.join(" ");
    if !search.trim().is_empty() && search.trim() != "." {
        text.push_str(&format!("search {search}\n"));
    }
    for ns in dns {
        text.push_str(&format!("nameserver {ns}\n"));
    }
    if !options.is_empty() {
        text.push_str(&format!("options {}\n", options.join(" ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_dns_parts_replace_the_base_ones() {
        let base = "search lan\nnameserver 10.0.0.1\noptions ndots:2\n";
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resolv_with(base, &s(&["1.1.1.1", "9.9.9.9"]), &[], &[]),
            "search lan\nnameserver 1.1.1.1\nnameserver 9.9.9.9\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_with(
                base,
                &[],
                &s(&["a.example", "b.example"]),
                &s(&["timeout:1"])
            ),
            "search a.example b.example\nnameserver 10.0.0.1\noptions timeout:1\n"
        );
        assert_eq!(
            resolv_with(base, &[], &s(&["."]), &[]),
            "nameserver 10.0.0.1\noptions ndots:2\n"
        );
    }

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
