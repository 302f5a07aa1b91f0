//! `kiln build history ls|inspect|rm|timeline|graph`: the builds kept
//! under the root (`docker buildx history`). `kiln build` takes one
//! context path, so `history` followed by one of these words cannot be a
//! build; `kiln build history` alone still builds a directory of that name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use kiln_solver::record::{otlp, BuildRecord, RecordStore};

use super::{graph, timeline};
use crate::globals::Globals;

/// The words that make `kiln build history …` this command.
pub const WORDS: [&str; 7] = ["ls", "inspect", "rm", "timeline", "graph", "help", "export"];

#[derive(clap::Parser)]
#[command(
    name = "kiln build history",
    about = "Show the builds kept under the root"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// List the kept builds, newest first
    Ls {
        /// Output format: text or json
        #[arg(long, default_value = "text")]
        format: Format,
    },
    /// Show one build: its options, steps, timings and cache misses
    Inspect {
        #[command(flatten)]
        which: Which,
        /// Output format: text or json
        #[arg(long, default_value = "text")]
        format: Format,
    },
    /// Remove build records
    Rm {
        /// Build IDs (or unique prefixes)
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
        /// Remove every record
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Draw a build's steps on a time axis: a self-contained HTML page, or SVG for FILE.svg
    Timeline {
        #[command(flatten)]
        which: Which,
        /// Where to write it (.svg: SVG alone, anything else: HTML)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Print a build's step graph as Graphviz DOT
    Graph {
        #[command(flatten)]
        which: Which,
    },
    /// Write a build as an OpenTelemetry trace (OTLP JSON)
    Export {
        #[command(flatten)]
        which: Which,
        /// Where to write it
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(clap::Args)]
struct Which {
    /// A build ID or a unique prefix of one
    #[arg(conflicts_with = "last")]
    id: Option<String>,
    /// The newest build (the default)
    #[arg(long)]
    last: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `words` are what follows `kiln build history`.
pub fn run(words: &[String], globals: &Globals) -> anyhow::Result<ExitCode> {
    let argv = std::iter::once("kiln build history".to_string()).chain(words.iter().cloned());
    let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap_or_else(|e| e.exit());
    let records = RecordStore::new(&globals.root);
    let pick = |w: &Which| match &w.id {
        Some(id) => records.get(id),
        None => records.last(),
    };
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Ls { format } => ls(&records.list()?, format, &mut out)?,
        Command::Inspect { which, format } => inspect(&pick(&which)?, format, &mut out)?,
        Command::Rm { ids, all } => {
            if all {
                records.prune(None)?;
            }
            for id in ids {
                writeln!(out, "{}", records.remove(&id)?)?;
            }
        }
        Command::Timeline { which, output } => write_timeline(&pick(&which)?, &output)?,
        Command::Graph { which } => out.write_all(graph::dot(&pick(&which)?).as_bytes())?,
        Command::Export { which, output } => write_trace(&pick(&which)?, &output)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `FILE.svg`: the SVG alone; anything else: the HTML page.
pub fn write_timeline(record: &BuildRecord, path: &Path) -> anyhow::Result<()> {
    let text = match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => timeline::svg(record),
        _ => timeline::html(record),
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub fn write_trace(record: &BuildRecord, path: &Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&otlp::trace(record))? + "\n";
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn status(r: &BuildRecord) -> &'static str {
    match (&r.outcome.error, &r.outcome.image) {
        (Some(_), _) => "Error",
        (None, Some(_)) => "Completed",
        (None, None) => "Canceled",
    }
}

/// What the build was of: its first tag, else its target, else its context.
fn name(r: &BuildRecord) -> String {
    r.options
        .tags
        .first()
        .or(r.options.target.as_ref())
        .cloned()
        .unwrap_or_else(|| r.options.context.clone())
}

fn ago(unix_ns: u64) -> String {
    crate::cmd::cache::ago(UNIX_EPOCH + Duration::from_nanos(unix_ns))
}

fn ls(records: &[BuildRecord], format: Format, out: &mut impl Write) -> anyhow::Result<()> {
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(records)?)?;
        return Ok(());
    }
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|r| {
            let ran = r.steps.iter().filter(|s| !s.cached).count();
            [
                r.id.clone(),
                name(r),
                status(r).to_string(),
                ago(r.started),
                timeline::seconds(r.finished.saturating_sub(r.started)),
                format!("{ran} ran, {} cached", r.steps.len() - ran),
            ]
        })
        .collect();
    let header = [
        "BUILD ID",
        "NAME",
        "STATUS",
        "CREATED AT",
        "DURATION",
        "STEPS",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&header].into_iter().chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("   ").trim_end())?;
    }
    Ok(())
}

fn inspect(r: &BuildRecord, format: Format, out: &mut impl Write) -> anyhow::Result<()> {
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
        return Ok(());
    }
    writeln!(out, "ID:          {}", r.id)?;
    writeln!(out, "Status:      {}", status(r))?;
    writeln!(out, "Context:     {}", r.options.context)?;
    writeln!(
        out,
        "Dockerfile:  {} {}",
        r.file,
        r.dockerfile_digest.as_deref().unwrap_or("")
    )?;
    if let Some(t) = &r.options.target {
        writeln!(out, "Target:      {t}")?;
    }
    for t in &r.options.tags {
        writeln!(out, "Tag:         {t}")?;
    }
    for (k, v) in &r.options.build_args {
        writeln!(out, "Build arg:   {k}={v}")?;
    }
    writeln!(out, "Created:     {}", ago(r.started))?;
    writeln!(
        out,
        "Duration:    {}",
        timeline::seconds(r.finished.saturating_sub(r.started))
    )?;
    if let Some(io) = r.io {
        writeln!(
            out,
            "Read:        {} bytes\nWritten:     {} bytes",
            io.read, io.written
        )?;
    }
    if let Some(i) = &r.outcome.image {
        writeln!(out, "Image:       {i}")?;
    }
    if let Some(e) = &r.outcome.error {
        writeln!(out, "Error:       {e}")?;
    }
    writeln!(out, "\nSteps:")?;
    for s in &r.steps {
        let mark = if s.cached { "CACHED" } else { "RAN   " };
        let place = s
            .line
            .map(|l| format!("  ({}:{l})", r.file))
            .unwrap_or_default();
        writeln!(
            out,
            "  #{:<3} {mark} {:>7}  {}{place}",
            s.vertex,
            timeline::seconds(s.duration_ns()),
            s.name
        )?;
        for m in &s.miss {
            writeln!(out, "               miss: {m}")?;
        }
        if let Some(e) = &s.error {
            writeln!(out, "               error: {e}")?;
        }
    }
    Ok(())
}
