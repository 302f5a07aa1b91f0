//! `kiln stats`: Docker's table of what containers use (CPU %, memory,
//! network and block IO, processes); a live view redrawn every second
//! until Ctrl-C, or one table with `--no-stream`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use gotmpl::Value;
use kiln_cache::units::{bytes_size, human_size_with_precision};
use kiln_engine::container::stats::{self, Row, Sample};
use kiln_engine::Engine;
use serde_json::json;

use crate::globals::Globals;
use crate::table::Table;
use crate::template::{self, Format, Item};

/// How long between two samples (Docker's daemon reads every second).
const INTERVAL: Duration = Duration::from_secs(1);

/// Clear the screen and go home, as Docker redraws its live view.
const REDRAW: &str = "\x1b[2J\x1b[H";

#[derive(clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format the output: table, json, or a Go template ({{.Name}}, table {{.ID}}\t{{.CPUPerc}})
    #[arg(long)]
    format: Option<String>,
    /// Containers to show (default: all running)
    containers: Vec<String>,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let format = match Format::parse(args.format.as_deref()) {
        Ok(f) => f,
        Err(e) => return Ok(template::refuse(&e, 1)),
    };
    let engine = Engine::new(&globals.root);
    let mut before = samples(&engine, &args)?;
    let mut out = io::stdout().lock();
    loop {
        std::thread::sleep(INTERVAL);
        let now = samples(&engine, &args)?;
        let rows: Vec<Row> = now
            .iter()
            .map(|s| {
                let earlier = before.iter().find(|b| b.id == s.id);
                stats::row(earlier.unwrap_or(s), s)
            })
            .collect();
        // A frame is written at once, so the screen never shows half of one.
        let mut frame = Vec::new();
        if !args.no_stream {
            frame.extend_from_slice(REDRAW.as_bytes());
        }
        let failed = write_rows(&mut frame, &rows, &format, args.no_trunc)?;
        out.write_all(&frame)?;
        out.flush()?;
        if let Some(code) = failed {
            return Ok(code);
        }
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        before = now;
    }
}

/// A sample of each container shown, in order. Containers are looked up
/// again each round, so the live view follows containers that start and
/// stop.
fn samples(engine: &Engine, args: &Args) -> anyhow::Result<Vec<Sample>> {
    let targets = engine.stats_targets(&args.containers, args.all)?;
    Ok(targets.iter().map(stats::sample).collect())
}

/// The rows as Docker's table, as JSON lines, or through a template
/// (`table …` with Docker's headers); `Some(code)` when the template
/// failed and the command ends.
fn write_rows(
    out: &mut impl Write,
    rows: &[Row],
    format: &Format,
    no_trunc: bool,
) -> anyhow::Result<Option<ExitCode>> {
    let cells: Vec<BTreeMap<&str, String>> = rows.iter().map(|r| cells(r, no_trunc)).collect();
    match format {
        Format::Default => {
            let mut table = Table::new(&HEADER.map(|(_, h)| h));
            for c in &cells {
                table.push(HEADER.iter().map(|(k, _)| c[k].clone()).collect());
            }
            table.write(out)?;
        }
        Format::Json => {
            for c in &cells {
                writeln!(out, "{}", json!(c))?;
            }
        }
        Format::Template(t) => {
            let items: Vec<Value> = cells.iter().map(|c| item(c).value()).collect();
            match t.render(&items, &HEADER) {
                Ok(text) => out.write_all(text.as_bytes())?,
                Err(e) => return Ok(Some(template::refuse(&e, 1))),
            }
        }
    }
    Ok(None)
}

fn item(cells: &BTreeMap<&str, String>) -> Item {
    cells
        .iter()
        .fold(Item::new(), |i, (k, v)| i.with(k, v.as_str()))
}

/// Docker's column keys (its template fields) and headers.
const HEADER: [(&str, &str); 8] = [
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// A row's cells as Docker writes them: sizes of memory in binary units,
/// of IO in decimal ones with three digits.
fn cells(r: &Row, no_trunc: bool) -> BTreeMap<&'static str, String> {
    let io = |a: u64, b: u64| {
        format!(
            "{} / {}",
            human_size_with_precision(a, 3),
            human_size_with_precision(b, 3)
        )
    };
    let id = if no_trunc {
        r.id.clone()
    } else {
        r.id.chars().take(12).collect()
    };
    BTreeMap::from([
        ("ID", id.clone()),
        ("Container", id),
        ("Name", r.name.clone()),
        ("CPUPerc", format!("{:.2}%", r.cpu_percent)),
        (
            "MemUsage",
            format!("{} / {}", bytes_size(r.mem_usage), bytes_size(r.mem_limit)),
        ),
        ("MemPerc", format!("{:.2}%", r.mem_percent)),
        ("NetIO", io(r.net_rx, r.net_tx)),
        ("BlockIO", io(r.block_read, r.block_write)),
        ("PIDs", r.pids.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_written_as_docker_writes_them() {
        let r = Row {
            id: "0123456789abcdef".into(),
            name: "web".into(),
            cpu_percent: 12.345,
            mem_usage: 1536 * 1024,
            mem_limit: 64 << 20,
            mem_percent: 2.34375,
            net_rx: 1234,
            net_tx: 648,
            block_read: 0,
            block_write: 4_096_000,
            pids: 3,
        };
        let c = cells(&r, false);
        assert_eq!(c["ID"], "0123456789ab");
        assert_eq!(c["CPUPerc"], "12.35%");
        assert_eq!(c["MemUsage"], "1.5MiB / 64MiB");
        assert_eq!(c["MemPerc"], "2.34%");
        assert_eq!(c["NetIO"], "1.23kB / 648B");
        assert_eq!(c["BlockIO"], "0B / 4.1MB");
        assert_eq!(cells(&r, true)["ID"], "0123456789abcdef");
    }
}
