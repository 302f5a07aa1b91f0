//! The daemon-wide endpoints: `_ping`, `version`, `info`, `events`,
//! `system/df`, `auth`.

use std::io::Write;
use std::time::SystemTime;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use kiln_cache::registry::config::DOCKER_HUB;
use kiln_engine::events::EventsOptions;
use kiln_engine::info::VersionInfo;
use serde_json::{json, Value};

use super::body;
use super::reply::{self, ApiError, Reply};
use super::route::ApiRequest;
use super::{Ctx, API_VERSION, MIN_API_VERSION};

pub fn ping() -> reply::Result {
    let mut response = Response::new(body::full("OK"));
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    Ok(Reply::Http(response))
}

pub fn version(_ctx: &Ctx) -> reply::Result {
    let v = VersionInfo::this(&crate::cmd::version::BUILD);
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let common = json!({
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": v.git_commit,
        "GoVersion": v.rust_version,
        "Os": v.os,
        "Arch": v.arch,
        "KernelVersion": kernel,
        "BuildTime": v.build_time,
    });
    // The engine's details say it as the docker CLI prints it; the top
    // level (a Go bool there) leaves it out, as dockerd does when false.
    let mut details = common.clone();
    details["Experimental"] = json!("false");
    let mut top = common;
    top["Platform"] = json!({"Name": "kiln"});
    top["Components"] = json!([{"Name": "Engine", "Version": v.version, "Details": details}]);
    top["Version"] = json!(v.version);
    reply::ok_json(&top)
}

pub fn info(ctx: &Ctx) -> reply::Result {
    let mirrors = crate::config::registry_config(&ctx.globals)?
        .hosts
        .remove(DOCKER_HUB)
        .map(|h| h.mirrors)
        .unwrap_or_default();
    let info = ctx.engine.info(mirrors)?;
    let mut value = serde_json::to_value(&info).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        for (k, v) in daemon_info(ctx) {
            map.entry(k).or_insert(v);
        }
    }
    reply::ok_json(&value)
}

/// The keys of Docker's `/info` about the daemon itself and what the
/// kernel lets it limit, as this server and machine have them.
fn daemon_info(ctx: &Ctx) -> serde_json::Map<String, Value> {
    let exists = |p: &str| std::path::Path::new(p).exists();
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let threads = std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count());
    let os_version = kiln_engine::info::os_release("VERSION_ID").unwrap_or_default();
    let value = json!({
        "ID": read("/etc/machine-id"),
        "Debug": ctx.globals.debug,
        "NFd": fds,
        "NGoroutines": threads,
        "NEventsListener": 0,
        "SystemTime": humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        "DriverStatus": [],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": null,
            "Log": ["json-file", "local", "none"],
        },
        "MemoryLimit": exists("/sys/fs/cgroup/memory") || exists("/sys/fs/cgroup/memory.max"),
        "SwapLimit": exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") || exists("/sys/fs/cgroup/memory.swap.max"),
        "KernelMemory": false,
        "KernelMemoryTCP": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": false,
        "PidsLimit": true,
        "OomKillDisable": false,
        "IPv4Forwarding": read("/proc/sys/net/ipv4/ip_forward") == "1",
        "BridgeNfIptables": false,
        "BridgeNfIp6tables": false,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "GenericResources": null,
        "HttpProxy": env("HTTP_PROXY"),
        "HttpsProxy": env("HTTPS_PROXY"),
        "NoProxy": env("NO_PROXY"),
        "Labels": [],
        "ExperimentalBuild": false,
        "Runtimes": {"kiln": {"path": "kiln"}},
        "DefaultRuntime": "kiln",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        // Containers outlive the server: their monitors own them.
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=default"],
        "OSVersion": os_version,
        "Warnings": [],
    });
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// A followed stream of Docker's event JSON, one object per line, until
/// `until` passes or the client goes away.
pub fn events(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let now = SystemTime::now();
    let time = |key: &str| -> Result<Option<SystemTime>, ApiError> {
        req.query
            .text(key)
            .map(|t| {
                crate::cmd::filter::parse_time(&t, now)
                    .map_err(|e| ApiError::bad_request(format!("invalid {key} value {t:?}: {e}")))
            })
            .transpose()
    };
    let until = time("until")?;
    let filters = req.query.filter_flags()?;
    let opts = EventsOptions {
        since: time("since")?.or(until.is_none().then_some(now)),
        until,
        filters: crate::cmd::events::filters(&filters)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        follow: until.is_none(),
    };
    let events = ctx.engine.events(&opts)?;
    let (mut writer, body) = body::channel();
    std::thread::spawn(move || {
        for event in events {
            let Ok(event) = event else { return };
            let line = docker_event(&event);
            if writeln!(writer, "{line}").is_err() {
                return;
            }
        }
    });
    reply::streamed("application/json", body)
}

/// The event with the older top-level keys (`status`, `id`, `from`) that
/// Docker still sends and older clients read.
fn docker_event(event: &kiln_engine::events::Event) -> Value {
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("status".into(), json!(event.action));
        map.insert("id".into(), json!(event.actor.id));
        if let Some(image) = event.actor.attributes.get("image") {
            map.insert("from".into(), json!(image));
        }
    }
    value
}

pub fn df(ctx: &Ctx) -> reply::Result {
    let detail = ctx.engine.system_df_verbose()?;
    let images: Vec<Value> = detail
        .images
        .iter()
        .map(|i| {
            json!({
                "Id": i.row.id.to_string(),
                "RepoTags": i.row.name.as_ref().map(|n| vec![n.to_string()]).unwrap_or_default(),
                "Size": i.row.size,
                "SharedSize": i.shared,
                "Containers": i.containers,
                "Created": i.row.created.map(super::images::unix_seconds).unwrap_or(0),
            })
        })
        .collect();
    let containers: Vec<Value> = detail
        .containers
        .iter()
        .map(|(c, size)| super::containers::summary(&ctx.engine, c, Some(size)))
        .collect();
    let volumes: Vec<Value> = detail
        .volumes
        .iter()
        .map(|v| json!({"Name": v.name, "Driver": "local", "UsageData": {"Size": v.size, "RefCount": v.links}}))
        .collect();
    let cache: Vec<Value> = detail
        .build_cache
        .iter()
        .map(|r| {
            json!({
                "ID": r.record.id.to_string(),
                "Size": r.size,
                "InUse": r.in_use,
                "Shared": r.shared,
            })
        })
        .collect();
    let layers: u64 = detail
        .images
        .iter()
        .map(|i| i.row.size.saturating_sub(i.shared))
        .sum();
    let builder: u64 = detail.build_cache.iter().map(|r| r.size).sum();
    reply::ok_json(&json!({
        "LayersSize": layers,
        "BuilderSize": builder,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": cache,
    }))
}

/// Checks credentials against the registry, as `docker login` asks the
/// daemon to; they are not stored (the client keeps its own).
pub fn auth(ctx: &Ctx, req: &mut ApiRequest) -> reply::Result {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Auth {
        username: String,
        password: String,
        serveraddress: String,
    }
    let auth: Auth = req.json()?;
    if auth.username.is_empty() || auth.password.is_empty() {
        return Err(ApiError::bad_request("username and password are required"));
    }
    let host = crate::cmd::registry::server_host(
        Some(&auth.serveraddress)
            .filter(|s| !s.is_empty())
            .map(|s| s.as_str()),
    );
    let config = crate::config::registry_config(&ctx.globals)?;
    let creds = kiln_cache::registry::Credentials {
        username: auth.username,
        password: auth.password,
    };
    match kiln_cache::registry::login(&config, &host, &creds) {
        Ok(()) => reply::ok_json(&json!({"Status": "Login Succeeded", "IdentityToken": ""})),
        Err(e) => Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string())),
    }
}
