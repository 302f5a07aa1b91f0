//! `kiln system df`: what the store holds, as `docker system df` shows it;
//! `kiln system prune` lives with the containers (it starts with them).

use std::io::{self, Write};
use std::process::ExitCode;

use kiln_cache::units::human_size;
use kiln_cache::DfRow;
use kiln_engine::Engine;
use serde_json::json;

use crate::cmd::cache::{row, write_table};
use crate::globals::Globals;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Show disk usage: images, containers, volumes, build cache
    Df(DfArgs),
    /// Remove unused data: stopped containers, dangling images, build cache
    Prune(crate::cmd::container::SystemPruneArgs),
}

#[derive(clap::Args)]
pub struct DfArgs {
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    format: String,
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        let args = match self {
            Command::Df(args) => args,
            Command::Prune(args) => return crate::cmd::container::system_prune(args, globals),
        };
        let df = Engine::new(&globals.root).system_df()?;
        let lines = [
            ("Images", df.images, true),
            ("Containers", df.containers, true),
            ("Local Volumes", df.volumes, true),
            ("Build Cache", df.build_cache, false),
        ];
        let mut out = io::stdout().lock();
        match args.format.as_str() {
            "json" => {
                for (kind, r, _) in lines {
                    let v = json!({
                        "Type": kind, "TotalCount": r.total, "Active": r.active,
                        "Size": human_size(r.size), "Reclaimable": reclaimable(&r, true),
                    });
                    writeln!(out, "{v}")?;
                }
            }
            "table" => {
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
                write_table(&mut out, &rows)?;
            }
            other => anyhow::bail!("unknown format {other:?}: use table or json"),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `11.63MB (70%)`; Docker omits the percentage for the build cache.
fn reclaimable(r: &DfRow, percent: bool) -> String {
    let size = human_size(r.reclaimable);
    if !percent {
        return size;
    }
    let p = (r.reclaimable * 100).checked_div(r.size).unwrap_or(0);
    format!("{size} ({p}%)")
}
