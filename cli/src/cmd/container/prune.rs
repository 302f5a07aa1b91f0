//! `kiln container prune`, `volume prune`, `network prune` and `system
//! prune`, as Docker shows them: each asks "Are you sure?" unless `-f`, and
//! takes Docker's `--filter` (`until=…`, `label=…`, `label!=…`). What goes
//! is the engine's decision; this asks, then lists it.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use kiln_cache::units::human_size;
use kiln_engine::prune::{SystemPruneOptions, VolumePruneOptions};
use kiln_engine::Engine;

use crate::cmd::filter;
use crate::globals::Globals;

#[derive(clap::Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Only what matches: until=TIME, label=K[=V], label!=K[=V]
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Only containers matching: until=TIME, label=K[=V], label!=K[=V]
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct NetworkPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Only networks matching: until=TIME
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Only volumes matching: label=K[=V], label!=K[=V]
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

pub fn container_prune(args: ContainerPruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = filter::parse(&args.filter, &["until", "label"])?;
    let warning = "WARNING! This will remove all stopped containers.";
    if !args.force && !ask(&[warning], &args.filter)? {
        return Ok(ExitCode::SUCCESS);
    }
    let pruned = Engine::new(&globals.root).prune_containers(&filters)?;
    section("Deleted Containers", &pruned.deleted);
    println!("Total reclaimed space: {}", human_size(pruned.reclaimed));
    Ok(ExitCode::SUCCESS)
}

pub fn volume_prune(args: VolumePruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = filter::parse(&args.filter, &["label"])?;
    let warning = if args.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !args.force && !ask(&[warning], &args.filter)? {
        return Ok(ExitCode::SUCCESS);
    }
    let opts = VolumePruneOptions {
        all: args.all,
        filters,
    };
    let pruned = Engine::new(&globals.root).prune_volumes(&opts)?;
    section("Deleted Volumes", &pruned.deleted);
    println!("Total reclaimed space: {}", human_size(pruned.reclaimed));
    Ok(ExitCode::SUCCESS)
}

pub fn network_prune(args: NetworkPruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = filter::parse(&args.filter, &["until"])?;
    let warning =
        "WARNING! This will remove all custom networks not used by at least one container.";
    if !args.force && !ask(&[warning], &args.filter)? {
        return Ok(ExitCode::SUCCESS);
    }
    let deleted = Engine::new(&globals.root).prune_networks(&filters)?;
    section("Deleted Networks", &deleted);
    Ok(ExitCode::SUCCESS)
}

pub fn system_prune(args: SystemPruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = filter::parse(&args.filter, &["until", "label"])?;
    if !args.force && !ask(&system_warning(&args), &args.filter)? {
        return Ok(ExitCode::SUCCESS);
    }
    let opts = SystemPruneOptions {
        all: args.all,
        volumes: args.volumes,
        filters,
    };
    let done = Engine::new(&globals.root).prune_system(&opts)?;
    section("Deleted Containers", &done.containers);
    section("Deleted Volumes", &done.volumes);
    section("Deleted Networks", &done.networks);
    let images: Vec<String> = done
        .images
        .iter()
        .map(|id| format!("deleted: {id}"))
        .collect();
    section("Deleted Images", &images);
    section("Deleted build cache objects", &done.build_cache);
    println!("Total reclaimed space: {}", human_size(done.reclaimed));
    Ok(ExitCode::SUCCESS)
}

fn section(title: &str, items: &[String]) {
    if !items.is_empty() {
        println!("{title}:");
        for i in items {
            println!("{i}");
        }
        println!();
    }
}

fn system_warning(args: &SystemPruneArgs) -> Vec<&'static str> {
    let mut lines = vec![
        "WARNING! This will remove:",
        "  - all stopped containers",
        "  - all networks not used by at least one container",
    ];
    if args.volumes {
        lines.push("  - all anonymous volumes not used by at least one container");
    }
    lines.push(if args.all {
        "  - all images without at least one container associated to them"
    } else {
        "  - all dangling images"
    });
    lines.push("  - all build cache");
    lines.push("");
    lines
}

/// Docker's warning and y/N question; anything but y keeps everything.
fn ask(warning: &[&str], filters: &[String]) -> anyhow::Result<bool> {
    let mut err = std::io::stderr().lock();
    for line in warning {
        writeln!(err, "{line}")?;
    }
    if !filters.is_empty() {
        writeln!(err, "  - Elements to be pruned will be filtered with:")?;
        for f in filters {
            writeln!(err, "  - {f}")?;
        }
    }
    write!(err, "Are you sure you want to continue? [y/N] ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
