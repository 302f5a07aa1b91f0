//! Names: what they mean inside a container (`--add-host` lines for
//! /etc/hosts, `--dns`, `--dns-search`, `--dns-option` for resolv.conf)
//! and the names others on a kiln network reach it by
//! (`--network-alias`), checked as Docker checks them and handed to the
//! runtime as spec annotations.

use std::net::IpAddr;

use kiln_runtime::container::etc;
use kiln_runtime::container::wiring::ALIASES_ANNOTATION;
use oci_spec::runtime::Spec;

use super::options::CreateOptions;
use crate::Error;

fn bad(flag: &'static str, value: &str, reason: String) -> Error {
    Error::BadFlag {
        flag,
        value: value.to_string(),
        reason,
    }
}

/// `HOST:IP` as /etc/hosts lines (`IP\tHOST`), in the order given.
pub(super) fn host_lines(add_hosts: &[String]) -> Result<String, Error> {
    let mut lines = String::new();
    for value in add_hosts {
        // Split at the first colon: the address may be IPv6.
        let Some((host, ip)) = value
            .split_once(':')
            .filter(|(h, i)| !h.is_empty() && !i.is_empty())
        else {
            let why = format!("bad format for add-host: {value:?}");
            return Err(bad("--add-host", value, why));
        };
        if ip.parse::<IpAddr>().is_err() {
            let why = format!("invalid IP address in add-host: {ip:?}");
            return Err(bad("--add-host", value, why));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            let why = format!("invalid host name in add-host: {host:?}");
            return Err(bad("--add-host", value, why));
        }
        lines.push_str(&format!("{ip}\t{host}\n"));
    }
    Ok(lines)
}

/// Checks the values and notes them in `spec`, with `link_hosts` (the
/// `--link` entries) after the `--add-host` lines.
pub(super) fn annotate(
    spec: &mut Spec,
    opts: &CreateOptions,
    link_hosts: &str,
) -> Result<(), Error> {
    let resolver =
        !(opts.dns.is_empty() && opts.dns_search.is_empty() && opts.dns_options.is_empty());
    if resolver && opts.network == "host" {
        return Err(Error::ConflictsWithNetwork("dns"));
    }
    let shared_hosts = !matches!(
        opts.network.as_str(),
        "none" | "host" | "private" | "bridge" | "default"
    );
    if shared_hosts && !opts.add_hosts.is_empty() {
        return Err(Error::ConflictsWithNetwork("custom host-to-IP mapping"));
    }
    if !shared_hosts && !opts.network_aliases.is_empty() {
        return Err(Error::AliasWithoutNetwork);
    }
    for alias in &opts.network_aliases {
        if !is_hosts_word(alias) {
            let why = format!("invalid network alias {alias:?}");
            return Err(bad("--network-alias", alias, why));
        }
    }
    let hosts = host_lines(&opts.add_hosts)? + link_hosts;
    for ns in &opts.dns {
        if ns.parse::<IpAddr>().is_err() {
            return Err(bad("--dns", ns, format!("{ns} is not an ip address")));
        }
    }
    for domain in &opts.dns_search {
        if !valid_search(domain) {
            return Err(bad(
                "--dns-search",
                domain,
                format!("{domain} is not a valid domain"),
            ));
        }
    }
    for option in &opts.dns_options {
        if option.is_empty() || option.chars().any(|c| c.is_whitespace() || c.is_control()) {
            let why = format!("{option:?} is not a resolver option");
            return Err(bad("--dns-option", option, why));
        }
    }
    let mut notes = spec.annotations().clone().unwrap_or_default();
    let mut note = |key: &str, text: String| {
        if !text.is_empty() {
            notes.insert(key.to_string(), text);
        }
    };
    note(etc::HOSTS_ANNOTATION, hosts);
    note(etc::DNS_ANNOTATION, opts.dns.join("\n"));
    note(etc::DNS_SEARCH_ANNOTATION, opts.dns_search.join("\n"));
    note(etc::DNS_OPTIONS_ANNOTATION, opts.dns_options.join("\n"));
    note(ALIASES_ANNOTATION, opts.network_aliases.join("\n"));
    if !notes.is_empty() {
        spec.set_annotations(Some(notes));
    }
    Ok(())
}

/// Docker's `ValidateDNSSearch`: `.` (no search), or a domain name of
/// letters, digits and inner hyphens, at most 255 characters.
fn valid_search(domain: &str) -> bool {
    if domain == "." {
        return true;
    }
    let name = domain.strip_suffix('.').unwrap_or(domain);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    domain.len() <= 255 && name.split('.').all(label_ok)
}

/// A name that can stand as one word of an /etc/hosts line (an alias of a
/// network, a link or `network connect`): not empty, no blank, control
/// character or comment mark that would end it or start another entry.
pub(crate) fn is_hosts_word(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn add_host_values_become_hosts_lines() {
        let lines = host_lines(&strings(&["db:10.0.0.5", "v6:fe80::1"])).unwrap();
        assert_eq!(lines, "10.0.0.5\tdb\nfe80::1\tv6\n");
        let err = host_lines(&strings(&["bad"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument \"bad\" for \"--add-host\" flag: bad format for add-host: \"bad\""
        );
        let err = host_lines(&strings(&["h:notip"])).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid IP address in add-host: \"notip\""),
            "{err}"
        );
        assert!(host_lines(&strings(&[":1.2.3.4"])).is_err());
    }

    #[test]
    fn resolver_values_are_checked_and_noted() {
        let mut spec = Spec::default();
        let o = CreateOptions {
            dns: strings(&["1.1.1.1"]),
            dns_search: strings(&["example.com", "."]),
            dns_options: strings(&["ndots:2"]),
            add_hosts: strings(&["a:1.2.3.4"]),
            ..CreateOptions::default()
        };
        annotate(&mut spec, &o, "5.6.7.8\tlinked\n").unwrap();
        let notes = spec.annotations().clone().unwrap();
        assert_eq!(
            notes[etc::HOSTS_ANNOTATION],
            "1.2.3.4\ta\n5.6.7.8\tlinked\n"
        );
        assert_eq!(notes[etc::DNS_SEARCH_ANNOTATION], "example.com\n.");
        for (dns, search) in [(vec!["x"], vec![]), (vec![], vec!["-bad-.com"])] {
            let o = CreateOptions {
                dns: strings(&dns),
                dns_search: strings(&search),
                ..CreateOptions::default()
            };
            assert!(matches!(
                annotate(&mut Spec::default(), &o, ""),
                Err(Error::BadFlag { .. })
            ));
        }
        let alias = CreateOptions {
            network_aliases: strings(&["api"]),
            ..CreateOptions::default()
        };
        assert!(matches!(
            annotate(&mut Spec::default(), &alias, ""),
            Err(Error::AliasWithoutNetwork)
        ));
        let on_net = CreateOptions {
            network: "mynet".into(),
            ..alias
        };
        let mut spec = Spec::default();
        annotate(&mut spec, &on_net, "").unwrap();
        assert_eq!(
            spec.annotations().as_ref().unwrap()[ALIASES_ANNOTATION],
            "api"
        );
        let host = CreateOptions {
            network: "host".into(),
            ..o
        };
        assert_eq!(
            annotate(&mut Spec::default(), &host, "")
                .unwrap_err()
                .to_string(),
            "conflicting options: dns and the network mode"
        );
    }
}
