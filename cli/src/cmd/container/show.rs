//! What can be seen of containers: `ps`, `logs`, `inspect`, `top`,
//! `diff`, `port`. The engine finds and reads; this renders.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use crate::globals::Globals;
use crate::table::{ellipsis, Table};
use crate::template::{self, Format, Item};
use anyhow::Context;
use kiln_engine::container::{
    ago, ports_text, status_text, ContainerSize, ListFilter, ListOptions, LogsOptions,
};
use kiln_engine::Engine;
use kiln_runtime::container::logs::Stream;
use kiln_runtime::container::state::Container;

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
    /// Show the last N created containers (all states); a negative N is
    /// no limit, as in Docker
    #[arg(short = 'n', long, allow_negative_numbers = true)]
    last: Option<i64>,
    /// Show the latest created container
    #[arg(short = 'l', long)]
    latest: bool,
    /// Filter: status=…, name=…, id=…, label=K[=V], label!=K[=V],
    /// ancestor=IMAGE, exited=CODE, volume=NAME|PATH, network=NAME,
    /// before=CONTAINER, since=CONTAINER
    #[arg(short, long, value_parser = crate::cmd::filter::key_value)]
    filter: Vec<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    /// Output format: table, json, or a Go template ('table {{.ID}}\t{{.Names}}')
    #[arg(long)]
    format: Option<String>,
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
    /// Show logs before a time (RFC 3339) or a duration ago (e.g. 10m)
    #[arg(long)]
    until: Option<String>,
    /// Show extra details provided to logs (kiln's logs carry none)
    #[arg(long)]
    details: bool,
    container: String,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
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
        last: last_n(args.last, args.latest),
        filters: args
            .filter
            .iter()
            .map(|f| list_filter(f))
            .collect::<Result<_, _>>()?,
    };
    let format = match Format::parse(args.format.as_deref()) {
        Ok(f) => f,
        Err(e) => return Ok(template::refuse(&e, 1)),
    };
    let engine = engine(globals);
    let list = engine.list(&opts)?;
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for c in &list {
            writeln!(out, "{}", id_of(c, args.no_trunc))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // As Docker's client does: sizes are asked for when a template shows
    // them, `{{json .}}` (every field) included.
    let wants_size = args.size
        || args
            .format
            .as_deref()
            .is_some_and(|f| f.contains(".Size") || f.contains("json"));
    let sizes = match wants_size {
        true => Some(engine.container_sizes(&list)?),
        false => None,
    };
    let size_of = |i: usize| sizes.as_ref().and_then(|s| s.get(i)).map(size_text);
    let items: Vec<Item> = list
        .iter()
        .enumerate()
        .map(|(i, c)| ps_item(c, args.no_trunc, size_of(i)))
        .collect();
    if let Some(code) = template::write_list(&format, &items, PS_HEADERS)? {
        return Ok(code);
    }
    // Docker cuts the ID and the command, never a status, name or image
    // name: columns widen to fit them.
    let mut header = vec![
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    if args.size {
        header.push("SIZE");
    }
    let mut table = Table::new(&header);
    for (i, c) in list.iter().enumerate() {
        let cmd = c.record.command();
        let cmd = if args.no_trunc {
            cmd
        } else {
            ellipsis(&cmd, 20)
        };
        let mut row = vec![
            id_of(c, args.no_trunc).to_string(),
            image_shown(c, args.no_trunc),
            kiln_parser::quote(cmd.as_bytes()),
            ago(&c.record.created),
            status_text(&c.state),
            ports_text(&c.state),
            c.record.name.clone(),
        ];
        if args.size {
            row.push(size_of(i).unwrap_or_default());
        }
        table.push(row);
    }
    table.write(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

/// Docker's SIZE: `12B (virtual 1.2MB)`, the writable layer and the whole
/// root filesystem, three significant digits.
pub(crate) fn size_text(s: &ContainerSize) -> String {
    let human = |b| kiln_cache::units::human_size_with_precision(b, 3);
    match s.root {
        0 => human(s.writable),
        root => format!("{} (virtual {})", human(s.writable), human(root)),
    }
}

/// Docker's `-n` (-1 by default: no limit) and `-l`, which means `-n 1`
/// unless `-n` says otherwise.
fn last_n(last: Option<i64>, latest: bool) -> Option<usize> {
    match (last, latest) {
        (Some(n), _) if n >= 0 => usize::try_from(n).ok(),
        (None | Some(-1), true) => Some(1),
        _ => None,
    }
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

/// Docker's column names for `ps` templates.
const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

/// A container under the fields of Docker's `ps` templates, cut as
/// Docker cuts them unless `--no-trunc`.
pub(crate) fn ps_item(c: &Container, no_trunc: bool, size: Option<String>) -> Item {
    let labels = c.record.labels();
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cmd = c.record.command();
    let cmd = if no_trunc { cmd } else { ellipsis(&cmd, 20) };
    let mounts: Vec<String> = c
        .record
        .mounts
        .iter()
        .map(|m| {
            let name = match m.name.is_empty() {
                true => m.source.display().to_string(),
                false => m.name.clone(),
            };
            if no_trunc {
                name
            } else {
                ellipsis(&name, 15)
            }
        })
        .collect();
    let volumes = c
        .record
        .mounts
        .iter()
        .filter(|m| m.kind == "volume")
        .count();
    Item::new()
        .with("ID", id_of(c, no_trunc))
        .with("Image", image_shown(c, no_trunc))
        .with("Command", kiln_parser::quote(cmd.as_bytes()))
        .with("CreatedAt", template::go_time_of(&c.record.created))
        .with("RunningFor", ago(&c.record.created))
        .with("Ports", ports_text(&c.state))
        .with("State", c.state.status.as_str())
        .with("Status", status_text(&c.state))
        // Without sizes asked for, Docker's own placeholder.
        .with("Size", size.unwrap_or_else(|| "N/A".into()))
        .with("Names", c.record.name.as_str())
        .with("Labels", pairs.join(","))
        .with("Mounts", mounts.join(","))
        .with("Networks", c.record.network.name())
        .with("LocalVolumes", volumes.to_string())
        .labels(&labels)
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
        since: args
            .since
            .as_deref()
            .map(|t| parse_time_flag("since", t))
            .transpose()?,
        tail,
        until: args
            .until
            .as_deref()
            .map(|t| parse_time_flag("until", t))
            .transpose()?
            // Docker reads 0 as no bound.
            .filter(|t| *t != SystemTime::UNIX_EPOCH),
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
        if args.details {
            // The entry's attributes (none), then a blank, as Docker writes them.
            write!(w, " ")?;
        }
        w.write_all(entry.log.as_bytes())?;
        // A followed line shows when it comes, not when the next one does.
        w.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Docker's time flags: a Unix time, RFC 3339, or a Go duration ago.
fn parse_time_flag(flag: &str, text: &str) -> anyhow::Result<SystemTime> {
    crate::cmd::filter::parse_time(text, SystemTime::now())
        .with_context(|| format!("invalid --{flag} value {text:?}"))
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
    match template::write_documents(args.format.as_deref(), &docs)? {
        Some(code) if code != ExitCode::SUCCESS => return Ok(code),
        Some(_) => {}
        None => println!("{}", serde_json::to_string_pretty(&docs)?),
    }
    Ok(ExitCode::from(u8::from(failed)))
}

#[derive(clap::Args)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub name: String,
    /// Options for ps(1), as Docker passes them (default -ef)
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

/// As Docker does: the host's ps(1) with the given options (`-ef` by
/// default), keeping the header and the rows of the container's processes.
pub fn top(args: TopArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let pids: Vec<u32> = engine(globals)
        .top(&args.name)?
        .iter()
        .map(|p| p.pid)
        .collect();
    let ps_args = if args.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        args.ps_args
    };
    let out = std::process::Command::new("ps")
        .args(&ps_args)
        .output()
        .map_err(|e| anyhow::anyhow!("running ps {}: {e}", ps_args.join(" ")))?;
    if !out.status.success() {
        anyhow::bail!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (titles, rows) = ps_rows(&text, &pids)?;
    // `docker top` sets its own tabwriter minimum (20).
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
    let mut table = Table::new(&titles).min_width(20);
    for row in rows {
        table.push(row);
    }
    table.write(&mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// The column titles of ps output `text`, and its rows whose PID is one of
/// `pids`; the last column takes the rest of the line (a command's
/// arguments), as Docker splits it.
fn ps_rows(text: &str, pids: &[u32]) -> anyhow::Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut lines = text.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
        anyhow::bail!("couldn't find PID field in ps output");
    };
    let mut rows = Vec::new();
    for line in lines {
        let fields = split_columns(line, titles.len());
        let pid = fields.get(pid_col).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            rows.push(fields);
        }
    }
    Ok((titles, rows))
}

/// `line` cut into at most `n` blank-separated fields.
fn split_columns(line: &str, n: usize) -> Vec<String> {
    let mut fields = Vec::new();
    let mut rest = line.trim_start();
    while fields.len() + 1 < n && !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        fields.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    if !rest.is_empty() {
        fields.push(rest.trim_end().to_string());
    }
    fields
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

#[cfg(test)]
mod ps_tests {
    use super::last_n;

    #[test]
    fn n_and_l_read_as_docker_reads_them() {
        assert_eq!(last_n(None, false), None);
        assert_eq!(last_n(Some(-1), false), None);
        assert_eq!(last_n(Some(-7), true), None);
        assert_eq!(last_n(Some(0), false), Some(0));
        assert_eq!(last_n(Some(3), true), Some(3));
        assert_eq!(last_n(None, true), Some(1));
        assert_eq!(last_n(Some(-1), true), Some(1));
    }
}

#[cfg(test)]
mod top_tests {
    use super::*;

    #[test]
    fn ps_rows_keep_the_header_and_the_container_processes() {
        let text = "UID PID PPID C STIME TTY TIME CMD
                    root 1 0 0 10:00 ? 00:00:01 /sbin/init
                    root 42 1 0 10:01 ? 00:00:00 sleep 1000 --x
";
        let (titles, rows) = ps_rows(text, &[42]).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1], "42");
        assert_eq!(rows[0][7], "sleep 1000 --x");
        assert!(ps_rows("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
