//! `kiln container prune`, `volume prune`, `system prune` and the
//! container/volume rows of `kiln system df`, as Docker shows them: each
//! prune asks "Are you sure?" unless `-f`, and takes Docker's `--filter`
//! (`until=…`, `label=…`, `label!=…`).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use super::filter::{created_time, Filters};
use kiln_cache::units::human_size;
use kiln_cache::{DfRow, ImageEntry, PruneOptions, Store};
use kiln_runtime::container::lifecycle as lc;
use kiln_runtime::container::state::{Container, Status};
use kiln_runtime::container::usage::{self, Usage};
use kiln_runtime::network::user::Networks;
use kiln_runtime::network::NetworkMode;
use kiln_runtime::volume::Volumes;

use super::create::containers;
use super::holds::ContainerHolds;
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

/// The containers and volumes rows of `system df`, from container state.
pub fn df_rows(globals: &Globals) -> (DfRow, DfRow) {
    let all = containers(globals);
    let vols = Volumes::new(globals.root.join("volumes"));
    let row = |u: Usage| DfRow {
        total: u.total,
        active: u.active,
        size: u.size,
        reclaimable: u.reclaimable,
    };
    (
        row(usage::containers(&all)),
        row(usage::volumes(&vols, &all)),
    )
}

pub fn container_prune(args: ContainerPruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = Filters::parse(&args.filter, &["until", "label"])?;
    let warning = "WARNING! This will remove all stopped containers.";
    if !args.force && !ask(&[warning], &args.filter)? {
        return Ok(ExitCode::SUCCESS);
    }
    let (deleted, reclaimed) = prune_containers(globals, &filters)?;
    section("Deleted Containers", &deleted);
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(ExitCode::SUCCESS)
}

pub fn volume_prune(args: VolumePruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = Filters::parse(&args.filter, &["label"])?;
    let warning = if args.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !args.force && !ask(&[warning], &args.filter)? {
        return Ok(ExitCode::SUCCESS);
    }
    let (deleted, reclaimed) = prune_volumes(globals, args.all, &filters)?;
    section("Deleted Volumes", &deleted);
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(ExitCode::SUCCESS)
}

pub fn network_prune(args: NetworkPruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = Filters::parse(&args.filter, &["until"])?;
    let warning =
        "WARNING! This will remove all custom networks not used by at least one container.";
    if !args.force && !ask(&[warning], &args.filter)? {
        return Ok(ExitCode::SUCCESS);
    }
    section("Deleted Networks", &prune_networks(globals, &filters)?);
    Ok(ExitCode::SUCCESS)
}

/// Removes the user networks no container (running or stopped) names, as
/// Docker keeps a network while any container is connected to it.
fn prune_networks(globals: &Globals, filters: &Filters) -> anyhow::Result<Vec<String>> {
    let users = containers(globals).list()?;
    let nets = Networks::new(globals.root.join("networks"));
    let mut deleted = Vec::new();
    for n in nets.list()? {
        let used = users
            .iter()
            .any(|c| c.record.network == NetworkMode::User(n.name.clone()));
        if !used && filters.matches(created_time(&n.created), &BTreeMap::new()) {
            nets.remove(&n.name)?;
            deleted.push(n.name);
        }
    }
    Ok(deleted)
}

/// Removes the stopped containers `filters` selects: their IDs and the
/// bytes their upper directories held.
fn prune_containers(globals: &Globals, filters: &Filters) -> anyhow::Result<(Vec<String>, u64)> {
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for c in containers(globals).list()? {
        let stopped = matches!(
            c.state.status,
            Status::Exited | Status::Dead | Status::Created
        );
        if !stopped || !selected(&c, filters) {
            continue;
        }
        if let kiln_runtime::Rootfs::Overlay { upper, .. } = &c.record.rootfs {
            reclaimed += usage::apparent_size(upper);
        }
        lc::remove(&c, true, false)?;
        deleted.push(c.record.id);
    }
    Ok((deleted, reclaimed))
}

fn selected(c: &Container, filters: &Filters) -> bool {
    filters.matches(created_time(&c.record.created), &c.record.labels())
}

/// Removes the volumes no container names (only anonymous ones unless
/// `all`) that `filters` selects.
fn prune_volumes(
    globals: &Globals,
    all: bool,
    filters: &Filters,
) -> anyhow::Result<(Vec<String>, u64)> {
    let users = containers(globals).list()?;
    let vols = Volumes::new(globals.root.join("volumes"));
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for v in vols.list()? {
        let used = users
            .iter()
            .any(|c| c.record.mounts.iter().any(|m| m.name == v.name));
        let wanted = (all || v.anonymous) && filters.matches(created_time(&v.created), &v.labels);
        if !used && wanted {
            reclaimed += usage::apparent_size(&v.mountpoint);
            vols.remove(&v.name)?;
            deleted.push(v.name);
        }
    }
    Ok((deleted, reclaimed))
}

pub fn system_prune(args: SystemPruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let filters = Filters::parse(&args.filter, &["until", "label"])?;
    if !args.force && !ask(&system_warning(&args), &args.filter)? {
        return Ok(ExitCode::SUCCESS);
    }
    let (deleted, mut reclaimed) = prune_containers(globals, &filters)?;
    section("Deleted Containers", &deleted);
    if args.volumes {
        let volume_filters = Filters::parse(&label_filters(&args.filter), &["label"])?;
        let (gone, bytes) = prune_volumes(globals, false, &volume_filters)?;
        reclaimed += bytes;
        section("Deleted Volumes", &gone);
    }
    let network_filters = Filters::parse(&until_filters(&args.filter), &["until"])?;
    if !filters.has_labels() {
        section(
            "Deleted Networks",
            &prune_networks(globals, &network_filters)?,
        );
    }
    let remaining = containers(globals).list()?;
    let store = Store::open(&globals.root)?;
    // Asked again under the store lock by each removal and the prune: a
    // container made since `remaining` was read keeps its image's layers.
    let holds = ContainerHolds::new(globals);
    let mut gone = Vec::new();
    for e in store.images()? {
        let used = remaining
            .iter()
            .any(|c| c.record.image_id == e.image.id().to_string());
        let wanted = (args.all || e.refs.is_empty()) && image_selected(&store, &e, &filters);
        if !used && wanted {
            match store.remove_image(&e.image.manifest.digest, &holds) {
                Ok(r) => {
                    reclaimed += r.reclaimed;
                    gone.push(format!("deleted: {}", e.image.id()));
                }
                // A container was made from it since `remaining` was read.
                Err(kiln_cache::StoreError::ImageInUse { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    section("Deleted Images", &gone);
    // Cache records carry no labels: a label filter selects none of them.
    if !filters.has_labels() {
        let report = store.prune(
            &PruneOptions {
                all: args.all,
                until: filters
                    .until()
                    .and_then(|t| SystemTime::now().duration_since(t).ok()),
                ..PruneOptions::default()
            },
            &holds,
        )?;
        reclaimed += report.reclaimed;
        section("Deleted build cache objects", &report.deleted);
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(ExitCode::SUCCESS)
}

/// `until` filters only (networks carry no labels here).
fn until_filters(args: &[String]) -> Vec<String> {
    args.iter()
        .filter(|f| f.starts_with("until"))
        .cloned()
        .collect()
}

/// `label` filters only (volumes have no `until` in Docker's prune).
fn label_filters(args: &[String]) -> Vec<String> {
    args.iter()
        .filter(|f| f.starts_with("label"))
        .cloned()
        .collect()
}

/// An image by its creation time (else when it entered the store) and
/// its config's labels.
fn image_selected(store: &Store, e: &ImageEntry, filters: &Filters) -> bool {
    if filters.is_empty() {
        return true;
    }
    let created = e
        .image
        .created
        .as_deref()
        .and_then(created_time)
        .or(Some(e.image.added));
    let labels: BTreeMap<String, String> = store
        .image_config(&e.image)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|doc| doc["config"]["Labels"].as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
        .collect();
    filters.matches(created, &labels)
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
