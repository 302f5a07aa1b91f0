//! `create` and `run -d`: a container record from Docker's flags (volumes,
//! ports, networks, links, restart policy), then its monitor.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use kiln_runtime::container::restart::RestartPolicy;
use kiln_runtime::container::state::{now, Container, Containers, MountPoint, Record};
use kiln_runtime::container::{etc, monitor};
use kiln_runtime::network::user::Networks;
use kiln_runtime::network::{NetworkMode, PortBinding};
use kiln_runtime::spec::Bind;
use kiln_runtime::volume::Volumes;

use super::run::{build_config, new_id, parse_bind, resolve_rootfs, ImageConfig, RunArgs};
use crate::globals::Globals;

const SETUP_FAILED: u8 = 125;

pub(super) fn containers(globals: &Globals) -> Containers {
    Containers::new(globals.root.join("containers"))
}

/// `kiln create`: prints the new container's ID.
pub(super) fn create(args: RunArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    match make(&args, globals) {
        Ok(c) => {
            println!("{}", c.record.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("kiln: error: {e:#}");
            Ok(ExitCode::from(SETUP_FAILED))
        }
    }
}

/// `kiln run -d`: creates, starts through a monitor, prints the ID.
pub(super) fn run_detached(args: RunArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let c = match make(&args, globals) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kiln: error: {e:#}");
            return Ok(ExitCode::from(SETUP_FAILED));
        }
    };
    match monitor::spawn(&c.dir) {
        Ok(()) => {
            println!("{}", c.record.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(start_failed(e)),
    }
}

/// Docker's statuses for a container that could not start.
pub(super) fn start_failed(e: monitor::Error) -> ExitCode {
    eprintln!("kiln: error: {e}");
    match e {
        monitor::Error::Start { exit_code, .. } => ExitCode::from(exit_code),
        _ => ExitCode::from(SETUP_FAILED),
    }
}

/// Builds and records the container.
pub(super) fn make(args: &RunArgs, globals: &Globals) -> anyhow::Result<Container> {
    let id = new_id()?;
    let containers = containers(globals);
    let dir = containers.dir().join(&id);
    let result = make_in(args, globals, &containers, &id, &dir);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn make_in(
    args: &RunArgs,
    globals: &Globals,
    containers: &Containers,
    id: &str,
    dir: &Path,
) -> anyhow::Result<Container> {
    let name = match &args.name {
        Some(n) => n.trim_start_matches('/').to_string(),
        None => generated_name(id),
    };
    let (rootfs, image, cmd) = resolve_rootfs(args, globals, dir)?;
    let mut config = build_config(args, &rootfs, &image, cmd)?;
    if config.hostname.is_none() {
        config.hostname = Some(id[..12].to_string());
    }
    let network = network_mode(&args.network, globals)?;
    let mounts = mounts(args, globals, &image, id)?;
    config.binds.extend(mounts.binds);
    if let NetworkMode::User(net) = &network {
        config.binds.push(Bind {
            source: Networks::new(globals.root.join("networks")).hosts_path(net),
            destination: "/etc/hosts".into(),
            read_only: false,
        });
    }
    let links = links(args, containers, &name)?;
    config.env.extend(links.env);
    let ports = ports(args, &image)?;
    let mut spec = config.to_spec(id)?;
    if !links.hosts.is_empty() {
        let mut notes = spec.annotations().clone().unwrap_or_default();
        notes.insert(etc::HOSTS_ANNOTATION.into(), links.hosts);
        spec.set_annotations(Some(notes));
    }
    let record = Record {
        id: id.to_string(),
        name,
        created: now(),
        image: args
            .args
            .first()
            .filter(|_| args.rootfs.is_none())
            .cloned()
            .unwrap_or_default(),
        image_id: image.id.clone(),
        spec,
        rootfs,
        tty: args.tty,
        open_stdin: args.interactive,
        restart: RestartPolicy::parse(&args.restart)?,
        auto_remove: args.rm,
        stop_signal: args
            .stop_signal
            .clone()
            .or_else(|| (!image.stop_signal.is_empty()).then(|| image.stop_signal.clone()))
            .unwrap_or_else(|| "SIGTERM".into()),
        stop_timeout: args.stop_timeout,
        network,
        ports,
        mounts: mounts.points,
        config: docker_config(args, &image, &config),
    };
    if args.rm && record.restart != RestartPolicy::No {
        bail!("conflicting options: --restart and --rm");
    }
    Ok(containers.create(&record)?)
}

/// Docker's `Config` section of `inspect`.
fn docker_config(
    args: &RunArgs,
    image: &ImageConfig,
    config: &kiln_runtime::spec::Config,
) -> serde_json::Value {
    serde_json::json!({
        "Hostname": config.hostname,
        "User": args.user.clone().unwrap_or_else(|| image.user.clone()),
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "Env": config.env,
        "Cmd": config.args,
        "Image": args.args.first(),
        "WorkingDir": config.cwd,
        "Entrypoint": image.entrypoint,
        "StopSignal": args.stop_signal.clone().unwrap_or_else(|| image.stop_signal.clone()),
        "ExposedPorts": image.exposed.iter().map(|p| (p.clone(), serde_json::json!({}))).collect::<serde_json::Map<_, _>>(),
        "Labels": labels(&args.label, image),
    })
}

/// The image's labels with `--label`s over them, as Docker merges them.
fn labels(flags: &[String], image: &ImageConfig) -> serde_json::Value {
    let mut all = image.labels.clone();
    for l in flags {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        all.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    serde_json::Value::Object(all)
}

/// A Docker-like `adjective_noun` name, derived from the ID.
fn generated_name(id: &str) -> String {
    const LEFT: [&str; 8] = [
        "brave", "calm", "eager", "fond", "keen", "lucid", "quiet", "swift",
    ];
    const RIGHT: [&str; 8] = [
        "curie", "darwin", "euler", "hopper", "lovelace", "noether", "ritchie", "turing",
    ];
    let b = u32::from_str_radix(&id[..6], 16).unwrap_or(0) as usize;
    format!("{}_{}_{}", LEFT[b % 8], RIGHT[(b / 8) % 8], &id[6..10])
}

fn network_mode(name: &str, globals: &Globals) -> anyhow::Result<NetworkMode> {
    Ok(match name {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        "private" | "bridge" | "default" => NetworkMode::Private,
        n => {
            let net = Networks::new(globals.root.join("networks")).get(n)?;
            NetworkMode::User(net.name)
        }
    })
}

fn ports(args: &RunArgs, image: &ImageConfig) -> anyhow::Result<Vec<PortBinding>> {
    let mut all: Vec<PortBinding> = args
        .publish
        .iter()
        .map(|p| PortBinding::parse(p))
        .collect::<Result<_, _>>()?;
    if args.publish_all {
        for exposed in &image.exposed {
            let b = PortBinding::parse(exposed)?;
            if !all
                .iter()
                .any(|p| p.container_port == b.container_port && p.proto == b.proto)
            {
                all.push(b);
            }
        }
    }
    if !all.is_empty() && args.network == "host" {
        bail!("published ports are discarded when using host network mode");
    }
    Ok(all)
}

/// Binds for the runtime plus the mount points the record keeps.
pub(super) struct Mounts {
    pub binds: Vec<Bind>,
    pub points: Vec<MountPoint>,
}

/// `-v` (anonymous, named, bind), `--volumes-from`, and the image's
/// VOLUMEs that nothing else covers; new volumes are seeded from the image.
pub(super) fn mounts(
    args: &RunArgs,
    globals: &Globals,
    image: &ImageConfig,
    _id: &str,
) -> anyhow::Result<Mounts> {
    let vols = Volumes::new(globals.root.join("volumes"));
    let mut points: Vec<MountPoint> = Vec::new();
    for from in &args.volumes_from {
        let (key, mode) = from.split_once(':').unwrap_or((from.as_str(), ""));
        let source = containers(globals).find(key)?;
        for m in source.record.mounts {
            let read_only = match mode {
                "ro" => true,
                "rw" => false,
                _ => m.read_only,
            };
            points.push(MountPoint { read_only, ..m });
        }
    }
    for spec in &args.volume {
        let point = volume_point(spec, &vols)?;
        points.retain(|p| p.destination != point.destination);
        points.push(point);
    }
    for dest in &image.volumes {
        if !points.iter().any(|p| &p.destination == dest) {
            points.push(anonymous(&vols, dest, false)?);
        }
    }
    for p in points.iter().filter(|p| p.kind == "volume") {
        vols.seed(&p.name, &image.lowers, &p.destination)?;
    }
    let binds = points
        .iter()
        .map(|p| Bind {
            source: p.source.clone(),
            destination: p.destination.clone(),
            read_only: p.read_only,
        })
        .collect();
    Ok(Mounts { binds, points })
}

fn anonymous(vols: &Volumes, dest: &str, read_only: bool) -> anyhow::Result<MountPoint> {
    let name = new_id()?;
    let v = vols.ensure(&name, true, &now())?;
    Ok(MountPoint {
        kind: "volume".into(),
        name,
        source: v.mountpoint,
        destination: dest.into(),
        read_only,
        anonymous: true,
    })
}

/// One `-v`: `/ctr`, `NAME:/ctr[:ro]` or `/host:/ctr[:ro]`.
fn volume_point(spec: &str, vols: &Volumes) -> anyhow::Result<MountPoint> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [dest] if dest.starts_with('/') => anonymous(vols, dest, false),
        [src, ..] if src.starts_with('/') => {
            let b = parse_bind(spec)?;
            Ok(MountPoint {
                kind: "bind".into(),
                name: String::new(),
                source: b.source,
                destination: b.destination,
                read_only: b.read_only,
                anonymous: false,
            })
        }
        [name, dest, rest @ ..] if dest.starts_with('/') && rest.len() <= 1 => {
            let read_only = match rest.first().copied() {
                None | Some("rw") => false,
                Some("ro") => true,
                Some(m) => bail!("invalid volume mode {m:?} in {spec:?}"),
            };
            let v = vols.ensure(name, false, &now())?;
            Ok(MountPoint {
                kind: "volume".into(),
                name: name.to_string(),
                source: v.mountpoint,
                destination: dest.to_string(),
                read_only,
                anonymous: false,
            })
        }
        _ => bail!("invalid volume specification {spec:?}"),
    }
}

/// What `--link` adds: variables and /etc/hosts lines.
struct Links {
    env: Vec<String>,
    hosts: String,
}

/// `--link C:ALIAS`: Docker's ALIAS_NAME, ALIAS_PORT_…, ALIAS_ENV_…
/// variables, and an /etc/hosts line naming the target by alias, name and
/// short ID.
fn links(args: &RunArgs, containers: &Containers, own: &str) -> anyhow::Result<Links> {
    let (mut env, mut hosts) = (Vec::new(), String::new());
    for link in &args.link {
        let (key, alias) = link
            .split_once(':')
            .unwrap_or((link.as_str(), link.as_str()));
        let target = containers
            .find(key)
            .with_context(|| format!("could not link to {key}"))?;
        let prefix = alias.to_ascii_uppercase().replace(['-', '.'], "_");
        let ip = target
            .state
            .ip
            .clone()
            .unwrap_or_else(|| "127.0.0.1".into());
        env.push(format!("{prefix}_NAME=/{own}/{alias}"));
        let mut names = vec![alias.to_string(), target.record.name.clone()];
        names.push(target.short_id().to_string());
        names.dedup();
        hosts.push_str(&format!("{ip}\t{}\n", names.join(" ")));
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
        let skip = ["HOME", "HOSTNAME", "PATH"];
        for e in target.record.config["Env"].as_array().into_iter().flatten() {
            let Some(e) = e.as_str() else { continue };
            let k = e.split('=').next().unwrap_or("");
            if !skip.contains(&k) {
                env.push(format!("{prefix}_ENV_{e}"));
            }
        }
    }
    Ok(Links { env, hosts })
}
