//! `--link C[:ALIAS]`: Docker's legacy links, as variables and /etc/hosts
//! lines naming the target container.

use kiln_runtime::container::state::{Container, Containers};
use kiln_runtime::network::PortBinding;

use crate::Error;

/// What links add to a container.
#[derive(Debug, Default)]
pub(super) struct Links {
    pub env: Vec<String>,
    pub hosts: String,
}

/// Docker's ALIAS_NAME, ALIAS_PORT_…, ALIAS_ENV_… variables, and an
/// /etc/hosts line naming each target by alias, name and short ID. `own` is
/// the linking container's name.
pub(super) fn links(links: &[String], containers: &Containers, own: &str) -> Result<Links, Error> {
    let mut all = Links::default();
    for link in links {
        let (key, alias) = link
            .split_once(':')
            .unwrap_or((link.as_str(), link.as_str()));
        let target = containers.find(key).map_err(|source| Error::Link {
            key: key.to_string(),
            source,
        })?;
        add(&mut all, &target, alias, own);
    }
    Ok(all)
}

fn add(links: &mut Links, target: &Container, alias: &str, own: &str) {
    let prefix = alias.to_ascii_uppercase().replace(['-', '.'], "_");
    let ip = target
        .state
        .ip
        .clone()
        .unwrap_or_else(|| "127.0.0.1".into());
    links.env.push(format!("{prefix}_NAME=/{own}/{alias}"));
    let mut names = vec![alias.to_string(), target.record.name.clone()];
    names.push(target.short_id().to_string());
    names.dedup();
    links
        .hosts
        .push_str(&format!("{ip}\t{}\n", names.join(" ")));
    links.env.extend(port_variables(target, &prefix, &ip));
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
