//! Docker's inspect objects: a container's (`GET /containers/{id}/json`),
//! and `inspect NAME…`, which takes each name as a container, then as an
//! image.

use kiln_cache::Store;
use kiln_runtime::container::state::{Container, Status};
use kiln_runtime::network::NetworkMode;
use kiln_runtime::Rootfs;
use serde_json::{json, Map, Value};

use crate::{Engine, Error};

/// slirp4netns's default gateway inside the namespace.
const SLIRP_GATEWAY: &str = "10.0.2.2";

/// Docker's zero time, for a start or end that has not happened.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Engine {
    pub fn inspect_container(&self, key: &str) -> Result<Value, Error> {
        let c = self.container(key)?;
        Ok(container_json(&c, self.network_settings(&c)))
    }

    /// Docker's `NetworkSettings` of a container (its list entry carries
    /// the same `Networks`).
    pub fn network_settings(&self, c: &Container) -> Value {
        network_json(c, &self.gateway(c))
    }

    /// The address a container reaches its network's host side at: its
    /// user network's bridge, or slirp4netns's gateway on the default one.
    fn gateway(&self, c: &Container) -> String {
        match &c.record.network {
            NetworkMode::User(name) => self
                .network_store()
                .get(name)
                .map(|n| n.gateway())
                .unwrap_or_default(),
            NetworkMode::Private => SLIRP_GATEWAY.to_string(),
            NetworkMode::None | NetworkMode::Host => String::new(),
        }
    }

    /// One object per name: the container it names, else the image; a
    /// name that is neither fails with the container lookup's error. The
    /// store is opened only for a name that is no container.
    pub fn inspect(&self, names: &[String]) -> Vec<Result<Value, Error>> {
        let mut store = None;
        names
            .iter()
            .map(|name| {
                self.inspect_container(name).or_else(|e| {
                    if store.is_none() {
                        store = Store::open(self.root()).ok();
                    }
                    store.as_ref().and_then(|s| image_json(s, name)).ok_or(e)
                })
            })
            .collect()
    }
}

/// The store's inspect object for `name`, when it names an image.
fn image_json(store: &Store, name: &str) -> Option<Value> {
    crate::images::image_object(store, name).ok()
}

/// Docker's container object: the parts kiln has, with its
/// `NetworkSettings` (which need the network store).
fn container_json(c: &Container, network_settings: Value) -> Value {
    let r = &c.record;
    let args = r
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    let upper = match &r.rootfs {
        Rootfs::Overlay { upper, .. } => upper.display().to_string(),
        Rootfs::Dir(d) => d.display().to_string(),
    };
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": args.first(),
        "Args": args.get(1..).unwrap_or_default(),
        "State": state_json(c),
        "Image": r.image_id,
        "Name": format!("/{}", r.name),
        "RestartCount": c.state.restart_count,
        "HostConfig": host_config_json(c),
        "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": upper}},
        "Mounts": mounts_json(c),
        "Config": r.config,
        "NetworkSettings": network_settings,
        "LogPath": log_path(c),
        // Made inside the container's own mount namespace: no host file
        // holds them.
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
    })
}

fn state_json(c: &Container) -> Value {
    let s = &c.state;
    let mut state = json!({
        "Status": s.status.as_str(),
        "Running": matches!(s.status, Status::Running | Status::Paused),
        "Paused": s.status == Status::Paused,
        "Restarting": s.status == Status::Restarting,
        "OOMKilled": s.oom_killed,
        "Dead": s.status == Status::Dead,
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": s.started_at.as_deref().unwrap_or(ZERO_TIME),
        "FinishedAt": s.finished_at.as_deref().unwrap_or(ZERO_TIME),
    });
    if let (Some(h), Some(fields)) = (&s.health, state.as_object_mut()) {
        fields.insert("Health".into(), super::health::state_json(h));
    }
    state
}

/// The live log file; none, as Docker shows it, under the none driver.
fn log_path(c: &Container) -> String {
    let config = kiln_runtime::container::logs::LogConfig::of(&c.record.spec);
    if !config.keeps_log() {
        return String::new();
    }
    let path = c.dir.join(kiln_runtime::container::logs::FILE);
    path.to_string_lossy().into_owned()
}

fn host_config_json(c: &Container) -> Value {
    let r = &c.record;
    let bindings: Map<String, Value> = r
        .ports
        .iter()
        .map(|p| {
            let key = format!("{}/{}", p.container_port, p.proto.as_str());
            let host_port = match p.host_port {
                0 => String::new(),
                n => n.to_string(),
            };
            (key, json!([{"HostIp": p.host_ip, "HostPort": host_port}]))
        })
        .collect();
    let mut host = json!({
        "RestartPolicy": {"Name": r.restart.name(), "MaximumRetryCount": r.restart.max_retries()},
        "AutoRemove": r.auto_remove,
        "NetworkMode": shown_network(&r.network),
        "PortBindings": bindings,
    });
    if let Some(host) = host.as_object_mut() {
        host.extend(super::host_config::fields(&r.spec));
    }
    host
}

fn mounts_json(c: &Container) -> Vec<Value> {
    c.record
        .mounts
        .iter()
        .map(|m| {
            json!({"Type": m.kind, "Name": m.name, "Source": m.source, "Destination": m.destination,
                   "RW": !m.read_only, "Mode": if m.read_only { "ro" } else { "" }})
        })
        .collect()
}

/// The network a container is shown on: one started on the hidden
/// network behind default-network links is on Docker's default bridge.
fn shown_network(mode: &NetworkMode) -> &str {
    match mode {
        NetworkMode::User(n) if n == crate::network::LINK_NETWORK => NetworkMode::Private.name(),
        mode => mode.name(),
    }
}

/// Docker's `NetworkSettings`, with the keys clients index into (an SDK
/// reads `Networks[name].Gateway` without checking it is there).
fn network_json(c: &Container, gateway: &str) -> Value {
    let s = &c.state;
    let mut ports = Map::new();
    for p in &s.ports {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        let list = ports.entry(key).or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
        }
    }
    let ip = s.ip.clone().unwrap_or_default();
    let prefix = if ip.is_empty() { 0 } else { 24 };
    let endpoint = json!({
        "IPAMConfig": null,
        "Links": null,
        "Aliases": null,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": gateway,
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": null,
    });
    json!({
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": false,
        "SandboxKey": "",
        "Ports": ports,
        "EndpointID": "",
        "Gateway": gateway,
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "MacAddress": "",
        "Networks": {shown_network(&c.record.network): endpoint},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_is_neither_container_nor_image_keeps_the_container_error() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::new(root.path());
        let expected = engine.containers().find("nope").unwrap_err().to_string();
        let got = engine.inspect(&["nope".to_string(), "nope".to_string()]);
        assert_eq!(got.len(), 2);
        for r in got {
            assert_eq!(r.unwrap_err().to_string(), expected);
        }
    }
}
