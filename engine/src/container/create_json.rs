//! `POST /containers/create`'s body (Docker's `Config` with `HostConfig`
//! and `NetworkingConfig`) as [`CreateOptions`]: each field becomes the
//! text of the flag the docker CLI would have turned into it, so an API
//! request is checked exactly as flags are. Fields kiln cannot honour are
//! refused by name rather than dropped. The body is untrusted (the fuzz
//! target `create_json` feeds it anything).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{with_mount_flags, CreateOptions, HealthOptions, LimitOptions};
use crate::Error;

fn bad(field: &'static str, value: impl Into<String>, reason: &str) -> Error {
    Error::BadField {
        field,
        value: value.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateBody {
    pub hostname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Words>,
    pub entrypoint: Option<Words>,
    pub image: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: String,
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    pub stop_signal: String,
    pub stop_timeout: Option<u64>,
    pub healthcheck: Option<Healthcheck>,
    pub network_disabled: bool,
    pub host_config: HostConfig,
    pub networking_config: NetworkingConfig,
}

/// Docker takes a command as a list or, from old clients, one string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Words {
    List(Vec<String>),
    One(String),
}

impl Words {
    fn into_vec(self) -> Vec<String> {
        match self {
            Words::List(l) => l,
            Words::One(s) => vec![s],
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Healthcheck {
    pub test: Vec<String>,
    /// Nanoseconds, as Go's time.Duration.
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub retries: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    pub network_mode: String,
    pub port_bindings: Option<BTreeMap<String, Option<Vec<HostPort>>>>,
    pub restart_policy: Option<RestartPolicy>,
    pub auto_remove: bool,
    pub volumes_from: Option<Vec<String>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub links: Option<Vec<String>>,
    pub pid_mode: String,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub shm_size: i64,
    pub sysctls: Option<BTreeMap<String, String>>,
    pub memory: i64,
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub log_config: Option<LogConfig>,
    pub devices: Option<Vec<Device>>,
    pub mounts: Option<Vec<Mount>>,
    pub init: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostPort {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Device {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, Option<EndpointConfig>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EndpointConfig {
    pub aliases: Option<Vec<String>>,
}

impl CreateBody {
    /// The options, with the container's name from the query.
    pub fn into_options(self, name: Option<String>) -> Result<CreateOptions, Error> {
        if self.image.is_empty() {
            return Err(bad("Image", "", "an image is required"));
        }
        let h = self.host_config;
        let mut o = CreateOptions {
            image: Some(self.image),
            name,
            hostname: Some(self.hostname).filter(|h| !h.is_empty()),
            user: Some(self.user).filter(|u| !u.is_empty()),
            workdir: Some(self.working_dir).filter(|w| !w.is_empty()),
            tty: self.tty,
            interactive: self.open_stdin || self.attach_stdin,
            // A bare `K` would copy the server's own variable: not the
            // client's to read.
            env: self
                .env
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.contains('='))
                .collect(),
            labels: pairs(self.labels),
            expose: self.exposed_ports.unwrap_or_default().into_keys().collect(),
            stop_signal: Some(self.stop_signal).filter(|s| !s.is_empty()),
            stop_timeout: self.stop_timeout,
            health: health(self.healthcheck),
            network: network_mode(&h.network_mode, self.network_disabled)?,
            rm: h.auto_remove,
            restart: restart(h.restart_policy),
            publish: publish(h.port_bindings),
            publish_all: h.publish_all_ports,
            volumes_from: h.volumes_from.unwrap_or_default(),
            links: h.links.unwrap_or_default(),
            read_only: h.readonly_rootfs,
            cap_add: h.cap_add.unwrap_or_default(),
            cap_drop: h.cap_drop.unwrap_or_default(),
            privileged: h.privileged,
            security_opts: h.security_opt.unwrap_or_default(),
            init: h.init.unwrap_or(false),
            add_hosts: h.extra_hosts.unwrap_or_default(),
            dns: h.dns.unwrap_or_default(),
            dns_search: h.dns_search.unwrap_or_default(),
            dns_options: h.dns_options.unwrap_or_default(),
            group_add: h.group_add.unwrap_or_default(),
            ulimits: h
                .ulimits
                .unwrap_or_default()
                .iter()
                .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
                .collect(),
            shm_size: (h.shm_size > 0).then(|| h.shm_size.to_string()),
            sysctls: pairs(h.sysctls),
            pid: namespace(&h.pid_mode, "HostConfig.PidMode")?,
            ipc: namespace(&h.ipc_mode, "HostConfig.IpcMode")?,
            uts: namespace(&h.uts_mode, "HostConfig.UTSMode")?,
            devices: h
                .devices
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    format!(
                        "{}:{}:{}",
                        d.path_on_host, d.path_in_container, d.cgroup_permissions
                    )
                })
                .collect(),
            limits: LimitOptions {
                memory: (h.memory > 0).then(|| h.memory.to_string()),
                memory_swap: (h.memory_swap != 0).then(|| h.memory_swap.to_string()),
                cpus: (h.nano_cpus > 0).then(|| h.nano_cpus as f64 / 1e9),
                cpu_shares: (h.cpu_shares > 0).then_some(h.cpu_shares as u64),
                pids_limit: h.pids_limit.filter(|p| *p > 0),
            },
            ..CreateOptions::default()
        };
        if let Some(log) = h.log_config.filter(|l| !l.kind.is_empty()) {
            o.log_driver = Some(log.kind);
            o.log_opts = pairs(log.config);
        }
        o.network_aliases = aliases(&h.network_mode, self.networking_config);
        set_command(&mut o, self.entrypoint, self.cmd);
        let anonymous: Vec<String> = self.volumes.unwrap_or_default().into_keys().collect();
        let binds = [h.binds.unwrap_or_default(), anonymous].concat();
        let mounts = mounts(h.mounts.unwrap_or_default())?;
        let tmpfs: Vec<String> = h
            .tmpfs
            .unwrap_or_default()
            .into_iter()
            .map(|(dst, opts)| {
                if opts.is_empty() {
                    dst
                } else {
                    format!("{dst}:{opts}")
                }
            })
            .collect();
        (o.volumes, o.tmpfs) = with_mount_flags(&binds, &tmpfs, &mounts)?;
        Ok(o)
    }
}

fn pairs(map: Option<BTreeMap<String, String>>) -> Vec<String> {
    map.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// Docker's Entrypoint and Cmd: an entrypoint's first word is the
/// program, the rest of it goes before the Cmd.
fn set_command(o: &mut CreateOptions, entrypoint: Option<Words>, cmd: Option<Words>) {
    let cmd = cmd.map(Words::into_vec).unwrap_or_default();
    match entrypoint.map(Words::into_vec) {
        Some(mut words) if !words.is_empty() => {
            let first = words.remove(0);
            o.entrypoint = Some(first);
            o.command = [words, cmd].concat();
        }
        _ => o.command = cmd,
    }
}

fn health(check: Option<Healthcheck>) -> HealthOptions {
    let Some(c) = check else {
        return HealthOptions::default();
    };
    let duration = |ns: i64| (ns > 0).then(|| format!("{ns}ns"));
    let mut h = HealthOptions {
        interval: duration(c.interval),
        timeout: duration(c.timeout),
        start_period: duration(c.start_period),
        retries: (c.retries > 0).then_some(c.retries),
        ..HealthOptions::default()
    };
    match c.test.split_first() {
        Some((kind, [])) if kind == "NONE" => h.disabled = true,
        Some((kind, rest)) if kind == "CMD-SHELL" => h.cmd = Some(rest.join(" ")),
        Some((kind, rest)) if kind == "CMD" => h.cmd = Some(shell_words(rest)),
        _ => {}
    }
    h
}

/// Words as one `sh -c` line that gives them back unchanged.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn network_mode(mode: &str, disabled: bool) -> Result<String, Error> {
    if disabled {
        return Ok("none".into());
    }
    Ok(match mode {
        "" | "default" | "bridge" => "private".into(),
        m if m.starts_with("container:") => {
            return Err(bad(
                "HostConfig.NetworkMode",
                m,
                "sharing another container's network is not supported",
            ))
        }
        m => m.into(),
    })
}

/// The aliases asked for on the container's own network.
fn aliases(mode: &str, config: NetworkingConfig) -> Vec<String> {
    config
        .endpoints_config
        .unwrap_or_default()
        .into_iter()
        .filter(|(net, _)| net == mode)
        .flat_map(|(_, e)| e.and_then(|e| e.aliases).unwrap_or_default())
        .collect()
}

fn namespace(mode: &str, field: &'static str) -> Result<Option<String>, Error> {
    match mode {
        "" | "private" | "shareable" => Ok(None),
        "host" => Ok(Some("host".into())),
        m => Err(bad(field, m, "use host, or leave it empty")),
    }
}

/// Docker's restart policy object as `--restart`'s text.
pub fn restart(policy: Option<RestartPolicy>) -> String {
    match policy {
        Some(p) if p.name == "on-failure" && p.maximum_retry_count > 0 => {
            format!("on-failure:{}", p.maximum_retry_count)
        }
        Some(p) if !p.name.is_empty() => p.name,
        _ => "no".into(),
    }
}

fn publish(bindings: Option<BTreeMap<String, Option<Vec<HostPort>>>>) -> Vec<String> {
    let mut specs = Vec::new();
    for (port, hosts) in bindings.unwrap_or_default() {
        let hosts = hosts.unwrap_or_default();
        if hosts.is_empty() {
            specs.push(port.clone());
        }
        for h in hosts {
            specs.push(match (h.host_ip.as_str(), h.host_port.as_str()) {
                ("", "") => port.clone(),
                ("", hp) => format!("{hp}:{port}"),
                (ip, hp) => format!("{ip}:{hp}:{port}"),
            });
        }
    }
    specs
}

/// `HostConfig.Mounts` as `--mount` texts.
fn mounts(list: Vec<Mount>) -> Result<Vec<String>, Error> {
    list.into_iter()
        .map(|m| {
            if m.target.is_empty() || m.target.contains(',') || m.source.contains(',') {
                return Err(bad(
                    "HostConfig.Mounts",
                    m.target,
                    "a target is required, and commas are not allowed",
                ));
            }
            let mut spec = format!("type={},target={}", m.kind, m.target);
            if !m.source.is_empty() {
                spec.push_str(&format!(",source={}", m.source));
            }
            if m.read_only {
                spec.push_str(",readonly");
            }
            Ok(spec)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(json: &str) -> CreateOptions {
        serde_json::from_str::<CreateBody>(json)
            .unwrap()
            .into_options(None)
            .unwrap()
    }

    #[test]
    fn a_docker_cli_body_becomes_flags() {
        let o = options(
            r#"{"Image":"busybox","Cmd":["echo","hi"],"Env":["A=1","LEAK"],"Tty":true,
            "ExposedPorts":{"80/tcp":{}},"Labels":{"k":"v"},
            "HostConfig":{"NetworkMode":"default","AutoRemove":true,"Binds":["/h:/c:ro"],
              "PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},
              "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},
              "Memory":67108864,"NanoCpus":500000000,"Tmpfs":{"/run":""}},
            "Unknown":1}"#,
        );
        assert_eq!(o.image.as_deref(), Some("busybox"));
        assert_eq!(o.command, ["echo", "hi"]);
        assert_eq!(
            o.env,
            ["A=1"],
            "a bare name must not copy the server's variable"
        );
        assert!(o.tty && o.rm);
        assert_eq!(o.network, "private");
        assert_eq!(o.publish, ["127.0.0.1:8080:80/tcp"]);
        assert_eq!(o.restart, "on-failure:3");
        assert_eq!(o.limits.memory.as_deref(), Some("67108864"));
        assert_eq!(o.limits.cpus, Some(0.5));
        assert_eq!(o.volumes, ["/h:/c:ro"]);
        assert_eq!(o.tmpfs, ["/run"]);
        assert_eq!(o.labels, ["k=v"]);
    }

    #[test]
    fn entrypoint_words_go_before_the_cmd() {
        let o = options(r#"{"Image":"b","Entrypoint":["/bin/sh","-c"],"Cmd":["echo x"]}"#);
        assert_eq!(o.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(o.command, ["-c", "echo x"]);
        let o = options(r#"{"Image":"b","Entrypoint":"/run.sh","Cmd":null}"#);
        assert_eq!(o.entrypoint.as_deref(), Some("/run.sh"));
    }

    #[test]
    fn what_kiln_cannot_do_is_refused_by_name() {
        let body: CreateBody =
            serde_json::from_str(r#"{"Image":"b","HostConfig":{"NetworkMode":"container:x"}}"#)
                .unwrap();
        let err = body.into_options(None).unwrap_err();
        assert!(err.to_string().contains("NetworkMode"), "{err}");
        let body: CreateBody = serde_json::from_str(r#"{"Cmd":["x"]}"#).unwrap();
        assert!(body.into_options(None).is_err());
    }

    #[test]
    fn health_tests_keep_their_words() {
        let o = options(
            r#"{"Image":"b","Healthcheck":{"Test":["CMD","echo","it's"],"Interval":1000000000}}"#,
        );
        assert_eq!(o.health.cmd.as_deref(), Some(r"'echo' 'it'\''s'"));
        assert_eq!(o.health.interval.as_deref(), Some("1000000000ns"));
        let o = options(r#"{"Image":"b","Healthcheck":{"Test":["NONE"]}}"#);
        assert!(o.health.disabled);
    }

    /// JSON of any shape under the field names the decoder knows.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            prop::sample::select(vec![
                "Image",
                "Cmd",
                "Entrypoint",
                "Env",
                "Tty",
                "OpenStdin",
                "Labels",
                "Volumes",
                "ExposedPorts",
                "Healthcheck",
                "Test",
                "Interval",
                "HostConfig",
                "Binds",
                "NetworkMode",
                "PortBindings",
                "HostIp",
                "HostPort",
                "RestartPolicy",
                "Name",
                "MaximumRetryCount",
                "Memory",
                "MemorySwap",
                "NanoCpus",
                "Ulimits",
                "Soft",
                "Hard",
                "Tmpfs",
                "Mounts",
                "Type",
                "Source",
                "Target",
                "LogConfig",
                "Config",
                "Devices",
                "PidMode",
                "Sysctls",
                "NetworkingConfig",
                "EndpointsConfig",
                "Aliases",
                "User",
            ])
            .prop_map(String::from),
            ".{0,6}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[ -~]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever a client sends decodes into options or an error.
        #[test]
        fn any_body_gives_options_or_an_error(value in any_json()) {
            if let Ok(body) = serde_json::from_value::<CreateBody>(value) {
                if let Ok(opts) = body.into_options(Some("fuzz".into())) {
                    let _ = opts.check();
                }
            }
        }
    }
}
