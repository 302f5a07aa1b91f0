//! `kiln system df`: what the store holds, as `docker system df` shows it;
//! `kiln system prune` lives with the containers (it starts with them).

use std::io;
use std::process::ExitCode;

use kiln_cache::units::human_size;
use kiln_cache::DfRow;
use kiln_engine::Engine;

use crate::cmd::cache::{row, write_table};
use crate::globals::Globals;
use crate::template::{self, Format, Item};

mod verbose;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Show disk usage: images, containers, volumes, build cache
    Df(DfArgs),
    /// Remove unused data: stopped containers, dangling images, build cache
    Prune(crate::cmd::container::SystemPruneArgs),
}

#[derive(clap::Args)]
pub struct DfArgs {
    /// Output format: table, json, or a Go template ('{{.Type}}: {{.Size}}')
    #[arg(long)]
    format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        let args = match self {
            Command::Df(args) => args,
            Command::Prune(args) => return crate::cmd::container::system_prune(args, globals),
        };
        let engine = Engine::new(&globals.root);
        if args.verbose && args.format.is_none() {
            return verbose::write(&engine.system_df_verbose()?);
        }
        let df = engine.system_df()?;
        let lines = [
            ("Images", df.images, true),
            ("Containers", df.containers, true),
            ("Local Volumes", df.volumes, true),
            ("Build Cache", df.build_cache, false),
        ];
        let format = match Format::parse(args.format.as_deref()) {
            Ok(f) => f,
            Err(e) => return Ok(template::refuse(&e, 1)),
        };
        let items: Vec<Item> = lines
            .iter()
            .map(|(kind, r, _)| {
                Item::new()
                    .with("Type", *kind)
                    .with("TotalCount", r.total)
                    .with("Active", r.active)
                    .with("Size", human_size(r.size))
                    .with("Reclaimable", reclaimable(r, true))
            })
            .collect();
        if let Some(code) = template::write_list(&format, &items, HEADERS)? {
            return Ok(code);
        }
        let mut rows = vec![row(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"])];
        for (kind, r, percent) in lines {
            rows.push(vec![
                kind.to_string(),
                r.total.to_string(),
                r.active.to_string(),
                human_size(r.size),
                reclaimable(&r, percent),
            ]);
        }
        write_table(&mut io::stdout().lock(), &rows)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Docker's column names for `system df` templates.
const HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

/// `11.63MB (70%)`; Docker omits the percentage for the build cache.
fn reclaimable(r: &DfRow, percent: bool) -> String {
    let size = human_size(r.reclaimable);
    if !percent {
        return size;
    }
    let p = (r.reclaimable * 100).checked_div(r.size).unwrap_or(0);
    format!("{size} ({p}%)")
}
