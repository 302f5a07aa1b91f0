//! `kiln search REGISTRY/TERM`: Docker's search table over a registry's
//! catalog.

use std::process::ExitCode;

use kiln_engine::Engine;

use crate::globals::Globals;
use crate::table::Table;
use crate::template::{self, Format, Item};

#[derive(clap::Args)]
pub struct Args {
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    limit: usize,
    /// Filter output: is-official=BOOL, is-automated=BOOL, stars=N
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output (a catalog gives no descriptions to cut)
    #[arg(long = "no-trunc")]
    _no_trunc: bool,
    /// REGISTRY/TERM: the repositories of REGISTRY whose name contains TERM
    #[arg(value_name = "TERM")]
    term: String,
}

/// Docker's column names for search templates.
const HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
    ("IsAutomated", "AUTOMATED"),
];

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let format = match Format::parse(args.format.as_deref()) {
        Ok(f) => f,
        Err(e) => return Ok(template::refuse(&e, 1)),
    };
    // A catalog has no stars, descriptions or official marks: a filter
    // that asks for them matches nothing, as on Docker Hub.
    let keep_all = filters_pass(&args.filter)?;
    let config = crate::config::registry_config(globals)?;
    let found = Engine::new(&globals.root).search(&config, &args.term, args.limit)?;
    let found: Vec<_> = found.into_iter().filter(|_| keep_all).collect();
    let items: Vec<Item> = found
        .iter()
        .map(|f| {
            Item::new()
                .with("Name", f.name.as_str())
                .with("Description", "")
                .with("StarCount", 0)
                .with("IsOfficial", false)
                .with("IsAutomated", false)
        })
        .collect();
    if let Some(code) = template::write_list(&format, &items, HEADERS)? {
        return Ok(code);
    }
    let mut table = Table::new(&["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]);
    for f in &found {
        let row = [f.name.as_str(), "", "0", "", ""];
        table.push(row.iter().map(|c| c.to_string()).collect());
    }
    table.write(&mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// Whether results with no stars, not official and not automated pass
/// `filters`; a filter Docker does not know is refused.
fn filters_pass(filters: &[String]) -> anyhow::Result<bool> {
    let mut pass = true;
    for f in filters {
        let (key, value) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        let wants = match key {
            "is-official" | "is-automated" => parse_bool(value)?,
            "stars" => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("invalid filter 'stars={value}'"))?;
                n > 0
            }
            _ => anyhow::bail!("invalid filter '{key}'"),
        };
        pass &= !wants;
    }
    Ok(pass)
}

fn parse_bool(v: &str) -> anyhow::Result<bool> {
    kiln_cache::units::parse_go_bool(v)
        .ok_or_else(|| anyhow::anyhow!("invalid filter value {v:?}: a boolean"))
}
