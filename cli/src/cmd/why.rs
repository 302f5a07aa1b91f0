//! `kiln cache why [IMAGE|--last]`: for each step of a build that missed
//! the cache, which ingredient changed since the closest earlier record.

use std::process::ExitCode;

use anyhow::Context;
use kiln_solver::why::{explain, load_log};

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// An image built by kiln build (ID, prefix or name)
    #[arg(conflicts_with = "last")]
    image: Option<String>,
    /// Explain the last build on this root (the default)
    #[arg(long)]
    last: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = kiln_cache::Store::open(&globals.root).context("opening the store")?;
    let id = match &args.image {
        Some(name) => Some(store.resolve_image(name)?.image.id().to_string()),
        None => None,
    };
    let log = load_log(&globals.root, id.as_deref())?;
    for step in explain(&store, &log)? {
        if step.cached {
            println!("CACHED {}", step.name);
            continue;
        }
        println!("RAN    {}", step.name);
        for reason in step.reasons {
            println!("         {reason}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
