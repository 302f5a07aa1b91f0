//! `--link C[:ALIAS]`: Docker's legacy links, as variables and /etc/hosts
//! lines naming the target container.
//!
//! On the default network the target must be running, as Docker demands
//! there. Its address is the one
//! it has on its user network; when both it and the linking container are
//! on the default network (each alone in a namespace of its own, with no
//! path between two of them), the target is put at once on the hidden
//! network of `network/link_network.rs` and the linking container is made
//! to start on it, so the alias names an address that answers, and its
//! outbound traffic still leaves through slirp4netns as on any user
//! network. Its /etc/hosts stays its own (localhost and the link lines),
//! as on Docker's default bridge. A target that restarts later gets a new
//! namespace, off that network: links name what ran when they were made.
//! With `--network none` (from the API: kiln's CLI refuses `--link` with
//! an explicit built-in network, as Docker's client does) the targets are
//! only checked, as Docker's daemon gives such a container no links;
//! host networking is refused as Docker's daemon refuses it.

use kiln_runtime::container::state::{Container, Error as StateError};
use kiln_runtime::network::{NetworkMode, PortBinding};

use super::dns::is_hosts_word;
use crate::network::LINK_NETWORK;
use crate::{Engine, Error};

/// What links add to a container.
#[derive(Debug, Default)]
pub(super) struct Links {
    pub env: Vec<String>,
    pub hosts: String,
    /// The network the linking container must start on instead of the
    /// default one, for the targets to be reachable.
    pub network: Option<NetworkMode>,
}

impl Engine {
    /// Docker's ALIAS_NAME, ALIAS_PORT_…, ALIAS_ENV_… variables, and an
    /// /etc/hosts line naming each target by alias, name and short ID. `own`
    /// is the linking container's name, `mode` the network it asked for.
    pub(super) fn links(
        &self,
        links: &[String],
        own: &str,
        mode: &NetworkMode,
    ) -> Result<Links, Error> {
        let mut all = Links::default();
        if links.is_empty() {
            return Ok(all);
        }
        if *mode == NetworkMode::Host {
            return Err(Error::LinkHostNetwork);
        }
        for link in links {
            let (key, alias) = parse(link)?;
            let target = self.link_target(key, alias, own, mode)?;
            // Docker's daemon gives a container without a network no
            // link variables and no hosts lines: it has no bridge address.
            if *mode == NetworkMode::None {
                continue;
            }
            let ip = self.target_address(&target, mode, &mut all)?;
            add(&mut all, &target, alias, own, &ip);
        }
        Ok(all)
    }

    /// The container `key` names, running when `mode` is the default
    /// network (the legacy links Docker checks at start).
    fn link_target(
        &self,
        key: &str,
        alias: &str,
        own: &str,
        mode: &NetworkMode,
    ) -> Result<Container, Error> {
        let target = self.containers().find(key).map_err(|source| match source {
            StateError::NotFound(_) => Error::NoLinkTarget(key.to_string()),
            source => Error::Link {
                key: key.to_string(),
                source,
            },
        })?;
        if target.record.network == NetworkMode::Host {
            return Err(Error::LinkHostNetwork);
        }
        if *mode == NetworkMode::Private && target.process_pid().is_none() {
            return Err(Error::LinkNotRunning {
                target: target.record.name.clone(),
                own: own.to_string(),
                alias: alias.to_string(),
            });
        }
        Ok(target)
    }

    /// Where the linking container reaches `target`: its user network
    /// address, or its address on the link network when both are on the
    /// default network (which `links` then makes the linking one's). A
    /// container that started on the link network (a linking one) is on
    /// the default network too.
    fn target_address(
        &self,
        target: &Container,
        mode: &NetworkMode,
        links: &mut Links,
    ) -> Result<String, Error> {
        let linked = NetworkMode::User(LINK_NETWORK.into());
        let target_default = [NetworkMode::Private, linked].contains(&target.record.network);
        if *mode == NetworkMode::Private && !target_default {
            return Err(Error::LinkNotDefault(target.record.name.clone()));
        }
        let pid = target
            .process_pid()
            .filter(|_| *mode == NetworkMode::Private);
        let Some(pid) = pid else {
            return Ok(target
                .state
                .ip
                .clone()
                .unwrap_or_else(|| "127.0.0.1".into()));
        };
        let ip = self.link_address(target, pid)?;
        links.network = Some(NetworkMode::User(LINK_NETWORK.into()));
        Ok(ip)
    }
}

/// Every `--link` well formed, before anything is made.
pub(super) fn check(links: &[String]) -> Result<(), Error> {
    links.iter().try_for_each(|l| parse(l).map(|_| ()))
}

/// `C[:ALIAS]` as Docker's `ParseLink` reads it (a `/C:/OWN/ALIAS` from a
/// container's own HostConfig too). The alias becomes a word of an
/// /etc/hosts line and a variable's prefix: one word, no comment.
fn parse(link: &str) -> Result<(&str, &str), Error> {
    let bad = |reason: &str| Error::BadFlag {
        flag: "--link",
        value: link.to_string(),
        reason: reason.to_string(),
    };
    if link.is_empty() {
        return Err(bad("empty string specified for links"));
    }
    let (key, alias) = match link.split(':').collect::<Vec<_>>().as_slice() {
        [one] => (*one, *one),
        [key, alias] => match key.strip_prefix('/') {
            Some(key) => (key, alias.rsplit('/').next().unwrap_or(alias)),
            None => (*key, *alias),
        },
        _ => return Err(bad("bad format for links")),
    };
    if !is_hosts_word(key) || !is_hosts_word(alias) {
        return Err(bad("a link names a container and an alias, each one word"));
    }
    Ok((key, alias))
}

fn add(links: &mut Links, target: &Container, alias: &str, own: &str, ip: &str) {
    let prefix = alias.to_ascii_uppercase().replace(['-', '.'], "_");
    links.env.push(format!("{prefix}_NAME=/{own}/{alias}"));
    let mut names = vec![alias.to_string(), target.record.name.clone()];
    names.push(target.short_id().to_string());
    names.dedup();
    links
        .hosts
        .push_str(&format!("{ip}\t{}\n", names.join(" ")));
    links.env.extend(port_variables(target, &prefix, ip));
    links.env.extend(env_variables(target, &prefix));
}

/// `ALIAS_PORT` (the lowest port) and `ALIAS_PORT_<N>_<PROTO>…` for each
/// port the target exposes.
fn port_variables(target: &Container, prefix: &str, ip: &str) -> Vec<String> {
    let exposed = target.record.config["ExposedPorts"]
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let mut ports: Vec<(u16, String)> = exposed
        .iter()
        .filter_map(|p| PortBinding::parse(p).ok())
        .map(|p| (p.container_port, p.proto.as_str().to_string()))
        .collect();
    ports.sort();
    let mut env = Vec::new();
    if let Some((port, proto)) = ports.first() {
        env.push(format!("{prefix}_PORT={proto}://{ip}:{port}"));
    }
    for (port, proto) in &ports {
        let p = format!("{prefix}_PORT_{port}_{}", proto.to_ascii_uppercase());
        env.push(format!("{p}={proto}://{ip}:{port}"));
        env.push(format!("{p}_ADDR={ip}"));
        env.push(format!("{p}_PORT={port}"));
        env.push(format!("{p}_PROTO={proto}"));
    }
    env
}

/// `ALIAS_ENV_K=V` for the target's variables, but HOME, HOSTNAME, PATH.
fn env_variables(target: &Container, prefix: &str) -> Vec<String> {
    let skip = ["HOME", "HOSTNAME", "PATH"];
    target.record.config["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str())
        .filter(|e| !skip.contains(&e.split('=').next().unwrap_or("")))
        .map(|e| format!("{prefix}_ENV_{e}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_as_docker_reads_them() {
        assert_eq!(parse("db").unwrap(), ("db", "db"));
        assert_eq!(parse("db:store").unwrap(), ("db", "store"));
        assert_eq!(parse("/db:/app/store").unwrap(), ("db", "store"));
        for bad in [
            "",
            "a:b:c",
            "db:",
            ":x",
            "db:x y",
            "db:x\n1.2.3.4 evil",
            "db:#",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("--link"), "{bad:?}: {err}");
        }
    }
}
