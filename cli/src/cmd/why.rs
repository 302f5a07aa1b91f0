//! `kiln cache why [IMAGE|--last] [--format text|json]`: for each step of
//! a build that missed the cache, what changed since its own step of the
//! previous build of the same target.

use std::process::ExitCode;

use anyhow::Context;
use kiln_solver::why::{explain, BuildWhy};

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// An image built by kiln build (ID, prefix or name)
    #[arg(conflicts_with = "last")]
    image: Option<String>,
    /// Explain the last build on this root (the default)
    #[arg(long)]
    last: bool,
    /// Output format: text or json
    #[arg(long, default_value = "text")]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = kiln_cache::Store::open(&globals.root).context("opening the store")?;
    let id = match &args.image {
        Some(name) => Some(store.resolve_image(name)?.image.id().to_string()),
        None => None,
    };
    let why = explain(&store, id.as_deref())?;
    let out = match args.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&why)?;
            text.push('\n');
            text
        }
        Format::Text => text(&why),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// One line per step, then its causes indented; causes beyond the first
/// kind that explains the miss are marked `also:`.
fn text(why: &BuildWhy) -> String {
    let mut out = String::new();
    for step in &why.steps {
        let mark = if step.cached { "CACHED" } else { "RAN   " };
        out.push_str(&format!("{mark} {}\n", step.name));
        for c in &step.causes {
            for line in c.text.lines() {
                out.push_str(&format!("         {line}\n"));
            }
        }
        for c in &step.also {
            out.push_str(&format!("         also: {}\n", c.text));
        }
    }
    out
}
