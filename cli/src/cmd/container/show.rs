//! What can be seen of containers: `ps`, `logs`, `inspect`, `top`,
//! `diff`, `port`.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use super::filter::Filters;
use anyhow::{bail, Context};
use kiln_runtime::container::diff as cdiff;
use kiln_runtime::container::logs::{self, Entry, Stream};
use kiln_runtime::container::state::{Container, State, Status};
use kiln_runtime::Rootfs;
use serde_json::json;

use super::create::containers;
use crate::globals::Globals;
use crate::table::{ellipsis, Table};

#[derive(clap::Args)]
pub struct One {
    #[arg(value_name = "CONTAINER")]
    pub name: String,
}

#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show the last N created containers (all states)
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Show the latest created container
    #[arg(short = 'l', long)]
    latest: bool,
    /// Filter: status=…, name=…, id=…, label=K[=V], label!=K[=V]
    #[arg(short, long)]
    filter: Vec<String>,
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    format: String,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
}

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end ("all" for every line)
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs since a time (RFC 3339) or a duration ago (e.g. 10m)
    #[arg(long)]
    since: Option<String>,
    container: String,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct PortArgs {
    container: String,
    /// PORT[/PROTO] to show
    port: Option<String>,
}

fn find(globals: &Globals, name: &str) -> anyhow::Result<Container> {
    Ok(containers(globals).find(name)?)
}

pub fn ps(args: PsArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let mut list = containers(globals).list()?;
    let limited = args.last.or(args.latest.then_some(1));
    if !args.all && limited.is_none() {
        list.retain(|c| c.state.status.is_live());
    }
    for f in &args.filter {
        let (k, v) = f.split_once('=').context("a filter is KEY=VALUE")?;
        match k {
            "status" => list.retain(|c| c.state.status.as_str() == v),
            "name" => list.retain(|c| c.record.name.contains(v.trim_start_matches('/'))),
            "id" => list.retain(|c| c.record.id.starts_with(v)),
            "label" | "label!" => {
                let only = Filters::parse(std::slice::from_ref(f), &["label"])?;
                list.retain(|c| only.matches(None, &c.record.labels()));
            }
            _ => bail!("invalid filter {k:?}: use status, name, id or label"),
        }
    }
    if let Some(n) = limited {
        list.truncate(n);
    }
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for c in &list {
            writeln!(out, "{}", id_of(c, args.no_trunc))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == "json" {
        for c in &list {
            writeln!(out, "{}", ps_json(c))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Docker cuts the ID and the command, never a status, name or image
    // name: columns widen to fit them.
    let mut table = Table::new(&[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]);
    for c in &list {
        let cmd = c.record.command();
        let cmd = if args.no_trunc {
            cmd
        } else {
            ellipsis(&cmd, 20)
        };
        table.push(vec![
            id_of(c, args.no_trunc).to_string(),
            image_shown(c, args.no_trunc),
            kiln_parser::quote(cmd.as_bytes()),
            ago(&c.record.created),
            status_text(&c.state),
            ports_text(&c.state),
            c.record.name.clone(),
        ]);
    }
    table.write(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

fn id_of(c: &Container, full: bool) -> &str {
    if full {
        &c.record.id
    } else {
        c.short_id()
    }
}

fn image_of(c: &Container) -> String {
    if c.record.image.is_empty() {
        "<rootfs>".into()
    } else {
        c.record.image.clone()
    }
}

/// An image given by ID is shown by its short ID, as Docker does.
fn image_shown(c: &Container, no_trunc: bool) -> String {
    let image = image_of(c);
    let hex = image.strip_prefix("sha256:").unwrap_or(&image);
    if !no_trunc && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex[..12].to_string();
    }
    image
}

fn ps_json(c: &Container) -> serde_json::Value {
    json!({
        "ID": c.short_id(),
        "Image": image_of(c),
        "Command": c.record.command(),
        "CreatedAt": c.record.created,
        "Names": c.record.name,
        "State": c.state.status.as_str(),
        "Status": status_text(&c.state),
        "Ports": ports_text(&c.state),
        "Labels": c.record.labels().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
    })
}

/// Seconds since an RFC 3339 time.
fn since(time: &str) -> Option<Duration> {
    let t = humantime::parse_rfc3339(time).ok()?;
    SystemTime::now().duration_since(t).ok()
}

/// Docker's "5 seconds", "About a minute", "3 hours".
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

fn ago(time: &str) -> String {
    since(time).map_or_else(String::new, |d| format!("{} ago", human(d)))
}

/// Docker's STATUS column.
fn status_text(s: &State) -> String {
    let up = || {
        s.started_at
            .as_deref()
            .and_then(since)
            .map_or_else(|| "Up".into(), |d| format!("Up {}", human(d)))
    };
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => up(),
        Status::Paused => format!("{} (Paused)", up()),
        Status::Restarting => format!(
            "Restarting ({}) {}",
            s.exit_code,
            s.finished_at.as_deref().map(ago).unwrap_or_default()
        ),
        Status::Exited => format!(
            "Exited ({}) {}",
            s.exit_code,
            s.finished_at.as_deref().map(ago).unwrap_or_default()
        ),
        Status::Dead => "Dead".into(),
    }
}

fn ports_text(s: &State) -> String {
    if !s.status.is_live() {
        return String::new();
    }
    let parts: Vec<String> = s
        .ports
        .iter()
        .map(|p| {
            format!(
                "{}:{}->{}/{}",
                p.host_ip,
                p.host_port,
                p.container_port,
                p.proto.as_str()
            )
        })
        .collect();
    parts.join(", ")
}

pub fn logs(args: LogsArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let c = find(globals, &args.container)?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .context("--tail takes a number or \"all\"")?,
        ),
    };
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let path = c.dir.join(logs::FILE);
    let (entries, mut offset) = logs::read_from(&path, 0)?;
    print_entries(&logs::select(entries, since, tail), args.timestamps)?;
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let live = Container::load(&c.dir).is_ok_and(|n| n.state.status.is_live());
        let (more, next) = logs::read_from(&path, offset)?;
        offset = next;
        print_entries(&more, args.timestamps)?;
        if !live {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// RFC 3339, a Unix time, or a duration ago (`10m`, `1h30m`).
fn parse_since(text: &str) -> anyhow::Result<SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return Ok(t);
    }
    if let Ok(secs) = text.parse::<f64>() {
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    let d = humantime::parse_duration(text)
        .with_context(|| format!("invalid --since value {text:?}"))?;
    Ok(SystemTime::now() - d)
}

fn print_entries(entries: &[Entry], timestamps: bool) -> std::io::Result<()> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for e in entries {
        let w: &mut dyn Write = match e.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        if timestamps {
            write!(w, "{} ", e.time)?;
        }
        w.write_all(e.log.as_bytes())?;
    }
    out.flush()?;
    err.flush()
}

pub fn inspect(args: InspectArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let all = containers(globals);
    let mut docs = Vec::new();
    let mut failed = false;
    let mut store = None;
    for name in &args.names {
        match all.find(name) {
            Ok(c) => docs.push(inspect_json(&c)),
            // Docker's `inspect` tries containers, then images.
            Err(e) => match image_json(&mut store, globals, name) {
                Some(doc) => docs.push(doc),
                None => {
                    eprintln!("kiln: error: {e}: no such container or image");
                    failed = true;
                }
            },
        }
    }
    println!("{}", serde_json::to_string_pretty(&docs)?);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Docker's container JSON: the parts kiln has.
fn inspect_json(c: &Container) -> serde_json::Value {
    let (r, s) = (&c.record, &c.state);
    let args = r
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    let mut ports = serde_json::Map::new();
    for p in &s.ports {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        let list = ports.entry(key).or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
        }
    }
    let mounts: Vec<serde_json::Value> = r
        .mounts
        .iter()
        .map(|m| {
            json!({"Type": m.kind, "Name": m.name, "Source": m.source, "Destination": m.destination,
                   "RW": !m.read_only, "Mode": if m.read_only { "ro" } else { "" }})
        })
        .collect();
    let upper = match &r.rootfs {
        Rootfs::Overlay { upper, .. } => upper.display().to_string(),
        Rootfs::Dir(d) => d.display().to_string(),
    };
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": args.first(),
        "Args": args.get(1..).unwrap_or_default(),
        "State": {
            "Status": s.status.as_str(),
            "Running": matches!(s.status, Status::Running | Status::Paused),
            "Paused": s.status == Status::Paused,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.status == Status::Dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": s.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Image": r.image_id,
        "Name": format!("/{}", r.name),
        "RestartCount": s.restart_count,
        "HostConfig": {
            "RestartPolicy": {"Name": r.restart.name(), "MaximumRetryCount": r.restart.max_retries()},
            "AutoRemove": r.auto_remove,
            "NetworkMode": r.network.name(),
            "PortBindings": r.ports.iter().map(|p| (format!("{}/{}", p.container_port, p.proto.as_str()),
                json!([{"HostIp": p.host_ip, "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() }}])))
                .collect::<serde_json::Map<_, _>>(),
        },
        "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": upper}},
        "Mounts": mounts,
        "Config": r.config,
        "NetworkSettings": {
            "Ports": ports,
            "IPAddress": s.ip.clone().unwrap_or_default(),
            "Networks": {r.network.name(): {"IPAddress": s.ip.clone().unwrap_or_default()}},
        },
    })
}

/// `kiln image inspect`'s object for `name`, when it names an image; the
/// store is opened on first need.
fn image_json(
    store: &mut Option<kiln_cache::Store>,
    globals: &Globals,
    name: &str,
) -> Option<serde_json::Value> {
    if store.is_none() {
        *store = kiln_cache::Store::open(&globals.root).ok();
    }
    let store = store.as_ref()?;
    let entry = store.resolve_image(name).ok()?;
    let config = store.image_config(&entry.image).ok()?;
    Some(kiln_cache::image::inspect::inspect(
        &kiln_cache::image::inspect::InspectInput {
            image_id: entry.image.id(),
            manifest_digest: &entry.image.manifest.digest,
            refs: &entry.refs,
            config_bytes: &config,
            size: entry.image.size,
        },
    ))
}

pub fn top(args: One, globals: &Globals) -> anyhow::Result<ExitCode> {
    let c = find(globals, &args.name)?;
    if !matches!(c.state.status, Status::Running | Status::Paused) {
        bail!("container {} is not running", c.record.name);
    }
    let needle = format!("kiln/{}", c.record.id);
    let mut out = std::io::stdout().lock();
    // `docker top` sets its own tabwriter minimum (20).
    let mut table = Table::new(&["UID", "PID", "PPID", "CMD"]).min_width(20);
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if !cg.contains(&needle) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or("?")
                .to_string()
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> = cmd
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        table.push(vec![
            field("Uid:"),
            pid.to_string(),
            field("PPid:"),
            cmd.join(" "),
        ]);
    }
    table.write(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

pub fn diff(args: One, globals: &Globals) -> anyhow::Result<ExitCode> {
    let c = find(globals, &args.name)?;
    let Rootfs::Overlay { upper, lowers, .. } = &c.record.rootfs else {
        bail!("kiln diff needs a container made from an image");
    };
    let mut out = std::io::stdout().lock();
    for (kind, path) in cdiff::changes(upper, lowers)? {
        writeln!(out, "{} {path}", kind.letter())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn port(args: PortArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let c = find(globals, &args.container)?;
    if !c.state.status.is_live() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    match args.port {
        None => {
            for p in &c.state.ports {
                writeln!(out, "{}", p.describe())?;
            }
        }
        Some(want) => {
            let (num, proto) = want.split_once('/').unwrap_or((want.as_str(), "tcp"));
            let hits: Vec<_> = c
                .state
                .ports
                .iter()
                .filter(|p| p.container_port.to_string() == num && p.proto.as_str() == proto)
                .collect();
            if hits.is_empty() {
                bail!(
                    "no public port '{num}/{proto}' published for {}",
                    c.record.name
                );
            }
            for p in hits {
                writeln!(out, "{}:{}", p.host_ip, p.host_port)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
