//! What can be seen of containers: `ps`, `logs`, `inspect`, `top`,
//! `diff`, `port`. The engine finds and reads; this renders.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use kiln_engine::container::{ago, ports_text, status_text, ListFilter, ListOptions, LogsOptions};
use kiln_engine::Engine;
use kiln_runtime::container::logs::Stream;
use kiln_runtime::container::state::Container;
use serde_json::json;

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

fn engine(globals: &Globals) -> Engine {
    Engine::new(&globals.root)
}

pub fn ps(args: PsArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let opts = ListOptions {
        all: args.all,
        last: args.last.or(args.latest.then_some(1)),
        filters: args
            .filter
            .iter()
            .map(|f| list_filter(f))
            .collect::<Result<_, _>>()?,
    };
    let list = engine(globals).list(&opts)?;
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

/// `KEY=VALUE`, the engine reads the rest.
fn list_filter(text: &str) -> anyhow::Result<ListFilter> {
    let (k, v) = crate::cmd::filter::split(text)?;
    Ok(ListFilter::parse(k, v)?)
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
    let labels: Vec<String> = c
        .record
        .labels()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    json!({
        "ID": c.short_id(),
        "Image": image_of(c),
        "Command": c.record.command(),
        "CreatedAt": c.record.created,
        "Names": c.record.name,
        "State": c.state.status.as_str(),
        "Status": status_text(&c.state),
        "Ports": ports_text(&c.state),
        "Labels": labels.join(","),
    })
}

pub fn logs(args: LogsArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .context("--tail takes a number or \"all\"")?,
        ),
    };
    let opts = LogsOptions {
        follow: args.follow,
        since: args.since.as_deref().map(parse_since).transpose()?,
        tail,
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for entry in engine(globals).logs(&args.container, &opts)? {
        let entry = entry?;
        let w: &mut dyn Write = match entry.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        if args.timestamps {
            write!(w, "{} ", entry.time)?;
        }
        w.write_all(entry.log.as_bytes())?;
        // A followed line shows when it comes, not when the next one does.
        w.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Docker's time flag: a Unix time, RFC 3339, or a Go duration ago.
fn parse_since(text: &str) -> anyhow::Result<SystemTime> {
    crate::cmd::filter::parse_time(text, SystemTime::now())
        .with_context(|| format!("invalid --since value {text:?}"))
}

pub fn inspect(args: InspectArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let mut docs = Vec::new();
    let mut failed = false;
    for found in engine(globals).inspect(&args.names) {
        match found {
            Ok(doc) => docs.push(doc),
            Err(e) => {
                eprintln!("kiln: error: {e}: no such container or image");
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&docs)?);
    Ok(ExitCode::from(u8::from(failed)))
}

pub fn top(args: One, globals: &Globals) -> anyhow::Result<ExitCode> {
    // `docker top` sets its own tabwriter minimum (20).
    let mut table = Table::new(&["UID", "PID", "PPID", "CMD"]).min_width(20);
    for p in engine(globals).top(&args.name)? {
        table.push(vec![p.uid, p.pid.to_string(), p.ppid, p.args.join(" ")]);
    }
    table.write(&mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

pub fn diff(args: One, globals: &Globals) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for (kind, path) in engine(globals).changes(&args.name)? {
        writeln!(out, "{} {path}", kind.letter())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn port(args: PortArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let ports = engine(globals).published_ports(&args.container, args.port.as_deref())?;
    let mut out = std::io::stdout().lock();
    for p in ports {
        match args.port {
            None => writeln!(out, "{}", p.describe())?,
            Some(_) => writeln!(out, "{}:{}", p.host_ip, p.host_port)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
