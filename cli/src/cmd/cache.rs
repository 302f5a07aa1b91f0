//! `kiln cache du|ls|inspect|prune|check`: see and prune the build cache.
//! Output shapes follow `docker buildx du` and `docker builder prune`.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use kiln_cache::units::{
    go_time_string, human_duration, human_size, parse_go_duration, parse_ram_bytes, rfc3339,
};
use kiln_cache::{CheckReport, PruneOptions, RecordUsage, Store};
use kiln_engine::ContainerHolds;
use serde_json::json;

use crate::globals::Globals;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Show disk usage of the build cache
    Du(DuArgs),
    /// List build cache records
    Ls(LsArgs),
    /// Show build cache records as JSON
    Inspect(InspectArgs),
    /// Remove build cache
    Prune(PruneArgs),
    /// Verify the store: blob digests, snapshots, references
    Check(CheckArgs),
    /// Explain which ingredient made each step of a build miss the cache
    Why(super::why::Args),
}

#[derive(clap::Args)]
pub struct DuArgs {
    /// Provide a more verbose output
    #[arg(long)]
    verbose: bool,
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    format: Format,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    format: Format,
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Record IDs (or unique prefixes)
    #[arg(required = true)]
    ids: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long)]
    filter: Vec<String>,
    /// Amount of disk space to keep for cache
    #[arg(long, value_parser = parse_ram_bytes)]
    keep_storage: Option<u64>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Quarantine or drop what is broken, and say what was done
    #[arg(long)]
    repair: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        if let Command::Why(args) = self {
            return super::why::run(args, globals);
        }
        let store = Store::open(&globals.root)
            .with_context(|| format!("opening the store at {}", globals.root.display()))?;
        let mut out = io::stdout().lock();
        match self {
            Command::Du(a) => du(&store, &a, &mut out),
            Command::Ls(a) => ls(&store, &a, &mut out),
            Command::Inspect(a) => inspect(&store, &a, &mut out),
            Command::Prune(a) => prune(&store, &a, globals, &mut out),
            Command::Check(a) => check(&store, &a, globals, &mut out),
            Command::Why(_) => unreachable!("handled before the store is opened"),
        }
    }
}

/// `5 minutes ago`; a time not yet come reads as now.
pub(crate) fn ago(t: SystemTime) -> String {
    let d = SystemTime::now().duration_since(t).unwrap_or_default();
    format!("{} ago", human_duration(d))
}

fn du(store: &Store, args: &DuArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let usage = store.disk_usage()?;
    if args.format == Format::Json {
        for r in &usage.records {
            writeln!(out, "{}", record_json(r))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.verbose {
        for r in &usage.records {
            write_verbose(r, out)?;
        }
    } else if !usage.records.is_empty() {
        let mut rows = vec![row(["ID", "RECLAIMABLE", "SIZE", "LAST ACCESSED"])];
        for r in &usage.records {
            // buildx marks a shared record's size with `*`.
            let size = human_size(r.size) + if r.shared { "*" } else { "" };
            rows.push(vec![
                r.record.id.clone(),
                r.reclaimable.to_string(),
                size,
                ago(r.record.last_used),
            ]);
        }
        write_table(out, &rows)?;
    }
    let t = usage.totals();
    let mut totals = Vec::new();
    if t.shared > 0 {
        totals.push(row(["Shared:", &human_size(t.shared)]));
        totals.push(row(["Private:", &human_size(t.private)]));
    }
    totals.push(row(["Reclaimable:", &human_size(t.reclaimable)]));
    totals.push(row(["Total:", &human_size(t.total)]));
    if !usage.records.is_empty() && !args.verbose {
        writeln!(out)?;
    }
    write_table(out, &totals)?;
    Ok(ExitCode::SUCCESS)
}

fn write_verbose(r: &RecordUsage, out: &mut impl Write) -> io::Result<()> {
    let rec = &r.record;
    let mut rows = vec![row(["ID:", &rec.id])];
    if let Some(p) = &rec.parent {
        rows.push(row(["Parent:", p]));
    }
    rows.extend([
        row(["Created at:", &go_time_string(rec.created)]),
        row(["Mutable:", &r.mutable.to_string()]),
        row(["Reclaimable:", &r.reclaimable.to_string()]),
        row(["Shared:", &r.shared.to_string()]),
        row(["Size:", &human_size(r.size)]),
    ]);
    if !rec.description.is_empty() {
        rows.push(row(["Description:", &rec.description]));
    }
    rows.extend([
        row(["Usage count:", &rec.usage_count.to_string()]),
        row(["Last used:", &ago(rec.last_used)]),
        row(["Type:", rec.kind.as_str()]),
    ]);
    write_table(out, &rows)?;
    writeln!(out)
}

fn record_json(r: &RecordUsage) -> serde_json::Value {
    let rec = &r.record;
    json!({
        "ID": rec.id,
        "Parents": rec.parent.iter().collect::<Vec<_>>(),
        "CreatedAt": rfc3339(rec.created),
        "Mutable": r.mutable,
        "Reclaimable": r.reclaimable,
        "Shared": r.shared,
        "InUse": r.in_use,
        "Size": r.size,
        "Description": rec.description,
        "UsageCount": rec.usage_count,
        "LastUsedAt": rfc3339(rec.last_used),
        "Type": rec.kind.as_str(),
        "CacheKey": rec.cache_key,
        "Snapshot": rec.snapshot.as_ref().map(|s| s.to_string()),
    })
}

fn ls(store: &Store, args: &LsArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let usage = store.disk_usage()?;
    let mut records = usage.records;
    records.sort_by_key(|r| std::cmp::Reverse(r.record.last_used));
    if args.quiet {
        for r in &records {
            writeln!(out, "{}", r.record.id)?;
        }
    } else if args.format == Format::Json {
        for r in &records {
            writeln!(out, "{}", record_json(r))?;
        }
    } else {
        let mut rows = vec![row([
            "ID",
            "TYPE",
            "SIZE",
            "LAST USED",
            "USAGE",
            "DESCRIPTION",
        ])];
        for r in &records {
            rows.push(vec![
                r.record.id.clone(),
                r.record.kind.as_str().to_string(),
                human_size(r.size),
                ago(r.record.last_used),
                r.record.usage_count.to_string(),
                r.record.description.clone(),
            ]);
        }
        write_table(out, &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(store: &Store, args: &InspectArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let usage = store.disk_usage()?;
    let mut found = Vec::new();
    let mut missing = false;
    for id in &args.ids {
        match store.find_record(id) {
            Ok(rec) => {
                let u = usage.records.iter().find(|u| u.record.id == rec.id);
                let mut v = match u {
                    Some(u) => record_json(u),
                    None => json!({ "ID": rec.id }),
                };
                v["Ingredients"] = json!(rec
                    .ingredients
                    .iter()
                    .map(|i| json!({"Name": i.name, "Value": i.value}))
                    .collect::<Vec<_>>());
                found.push(v);
            }
            Err(e) => {
                // docker inspect prints what it found and an error per miss.
                eprintln!("kiln: error: {e}");
                missing = true;
            }
        }
    }
    writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?;
    Ok(if missing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn prune_options(args: &PruneArgs) -> anyhow::Result<PruneOptions> {
    let mut until = None;
    let mut kinds = Vec::new();
    for f in &args.filter {
        match f.split_once('=') {
            Some(("until", v)) => until = Some(parse_go_duration(v)?),
            Some(("type", v)) => kinds.push(record_kind(v)?),
            _ => anyhow::bail!(
                "invalid filter {f:?}: kiln supports until=<duration> and type=<record type>"
            ),
        }
    }
    Ok(PruneOptions {
        all: args.all,
        until,
        keep_storage: args.keep_storage,
        kinds,
    })
}

/// A `type=` filter value: BuildKit's record types, and `cache-mount` as
/// the Dockerfile names the mount.
fn record_kind(name: &str) -> anyhow::Result<kiln_cache::RecordKind> {
    use kiln_cache::RecordKind as K;
    Ok(match name {
        "cache-mount" | "exec.cachemount" => K::CacheMount,
        "regular" => K::Regular,
        "source.image" => K::SourceImage,
        "source.local" => K::SourceLocal,
        _ => anyhow::bail!(
            "invalid filter type={name:?}: one of cache-mount, exec.cachemount, regular, source.image, source.local"
        ),
    })
}

/// `docker builder prune`: without `-f`, ask on stdout and read a line from
/// stdin, tty or not; anything but `y` cancels, and a cancelled prune
/// exits 0 having removed nothing (a closed stdin in CI cancels).
fn confirmed(all: bool, out: &mut impl Write) -> io::Result<bool> {
    let warning = if all {
        "WARNING! This will remove all build cache. Are you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
    };
    write!(out, "{warning} [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

fn prune(
    store: &Store,
    args: &PruneArgs,
    globals: &Globals,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let options = prune_options(args)?;
    if !args.force && !confirmed(args.all, out)? {
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Containers' layers are roots, as images' are.
    let report = store.prune(&options, &ContainerHolds::new(&globals.root))?;
    // Build records go with the cache they describe (those older than
    // `until=` when it is given).
    kiln_solver::record::RecordStore::new(&globals.root).prune(options.until)?;
    if !report.deleted.is_empty() {
        writeln!(out, "Deleted build cache objects:")?;
        for id in &report.deleted {
            writeln!(out, "{id}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        human_size(report.reclaimed)
    )?;
    Ok(ExitCode::SUCCESS)
}

fn check(
    store: &Store,
    args: &CheckArgs,
    globals: &Globals,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let report = store.check(args.repair, &ContainerHolds::new(&globals.root))?;
    write_check(&report, out)?;
    if report.is_healthy() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "kiln: error: the store has {} problem(s); run `kiln cache check --repair`",
        report.problems.len()
    );
    Ok(ExitCode::from(1))
}

fn write_check(report: &CheckReport, out: &mut impl Write) -> io::Result<()> {
    for p in &report.problems {
        match &p.repair {
            Some(done) => writeln!(out, "problem: {}\n  repaired: {done}", p.description)?,
            None => writeln!(out, "problem: {}", p.description)?,
        }
    }
    if report.tmp_removed > 0 {
        writeln!(
            out,
            "removed {} temporary entries left by interrupted kiln processes",
            report.tmp_removed
        )?;
    }
    if report.unreferenced > 0 {
        writeln!(
            out,
            "{} unreferenced blobs or snapshots (freed by `kiln cache prune`)",
            report.unreferenced
        )?;
    }
    writeln!(
        out,
        "checked {} blobs, {} snapshots, {} images, {} cache records: {}",
        report.blobs,
        report.snapshots,
        report.images,
        report.records,
        if report.problems.is_empty() {
            "ok"
        } else if report.is_healthy() {
            "repaired"
        } else {
            "PROBLEMS FOUND"
        }
    )
}

pub(crate) fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

pub(crate) fn write_table(out: &mut impl Write, rows: &[Vec<String>]) -> io::Result<()> {
    let mut table = crate::table::Table::headless();
    for r in rows {
        table.push(r.clone());
    }
    table.write(out)
}
