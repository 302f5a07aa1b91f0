//! `kiln system prune` and the container/volume rows of `kiln system df`:
//! what spans containers, volumes, images and the build cache, as Docker's
//! `system prune` and `system df` show it.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use kiln_cache::units::human_size;
use kiln_cache::{DfRow, PruneOptions, Store};
use kiln_runtime::container::lifecycle as lc;
use kiln_runtime::container::state::Status;
use kiln_runtime::container::usage::{self, Usage};
use kiln_runtime::volume::Volumes;

use super::create::containers;
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

pub fn system_prune(args: SystemPruneArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    if !args.force && !confirm(&args)? {
        return Ok(ExitCode::SUCCESS);
    }
    let mut reclaimed = 0;
    let all = containers(globals);
    let mut deleted = Vec::new();
    for c in all.list()? {
        if matches!(
            c.state.status,
            Status::Exited | Status::Dead | Status::Created
        ) {
            if let kiln_runtime::Rootfs::Overlay { upper, .. } = &c.record.rootfs {
                reclaimed += usage::apparent_size(upper);
            }
            lc::remove(&c, true, false)?;
            deleted.push(c.record.id);
        }
    }
    section("Deleted Containers", &deleted);
    let remaining = all.list()?;
    if args.volumes {
        let vols = Volumes::new(globals.root.join("volumes"));
        let mut gone = Vec::new();
        for v in vols.list()? {
            let used = remaining
                .iter()
                .any(|c| c.record.mounts.iter().any(|m| m.name == v.name));
            if v.anonymous && !used {
                reclaimed += usage::apparent_size(&v.mountpoint);
                vols.remove(&v.name)?;
                gone.push(v.name);
            }
        }
        section("Deleted Volumes", &gone);
    }
    let store = Store::open(&globals.root)?;
    let mut gone = Vec::new();
    for e in store.images()? {
        let used = remaining
            .iter()
            .any(|c| c.record.image_id == e.image.id().to_string());
        if !used && (args.all || e.refs.is_empty()) {
            let r = store.remove_image(&e.image.manifest.digest)?;
            reclaimed += r.reclaimed;
            gone.push(format!("deleted: {}", e.image.id()));
        }
    }
    section("Deleted Images", &gone);
    let report = store.prune(&PruneOptions {
        all: args.all,
        ..PruneOptions::default()
    })?;
    reclaimed += report.reclaimed;
    section("Deleted build cache objects", &report.deleted);
    println!("Total reclaimed space: {}", human_size(reclaimed));
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

/// Docker's warning and y/N question; anything but y keeps everything.
fn confirm(args: &SystemPruneArgs) -> anyhow::Result<bool> {
    let mut err = std::io::stderr().lock();
    writeln!(err, "WARNING! This will remove:")?;
    writeln!(err, "  - all stopped containers")?;
    if args.volumes {
        writeln!(
            err,
            "  - all anonymous volumes not used by at least one container"
        )?;
    }
    if args.all {
        writeln!(
            err,
            "  - all images without at least one container associated to them"
        )?;
    } else {
        writeln!(err, "  - all dangling images")?;
    }
    writeln!(err, "  - all build cache\n")?;
    write!(err, "Are you sure you want to continue? [y/N] ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
