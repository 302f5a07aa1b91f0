//! `kiln update`: new limits and restart policy for containers, running
//! or not. Each container named is updated in turn and printed; a failure
//! is reported and the rest still go, exit 1 at the end, as Docker does.

use std::process::ExitCode;

use kiln_engine::container::{UpdateError, UpdateOptions};
use kiln_engine::{Engine, Error};

use crate::globals::Globals;

/// Docker's exit code for a flag value it cannot use.
const BAD_VALUE: u8 = 125;

#[derive(clap::Args)]
pub struct Args {
    /// Memory limit (e.g. 64m; -1 for none)
    #[arg(short, long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    cpu_shares: Option<u64>,
    /// Tune the container's pids limit (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy: no, always, on-failure[:N], unless-stopped
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    names: Vec<String>,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let opts = UpdateOptions {
        memory: args.memory,
        memory_swap: args.memory_swap,
        cpus: args.cpus,
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit,
        restart: args.restart,
    };
    if let Err(err) = opts.check() {
        let code = match err {
            Error::Update(UpdateError::NothingToUpdate) => 1,
            _ => BAD_VALUE,
        };
        crate::error_text::print(&err.into());
        return Ok(ExitCode::from(code));
    }
    let engine = Engine::new(&globals.root);
    let mut failed = false;
    for name in &args.names {
        match engine.update(name, &opts) {
            Ok(()) => println!("{name}"),
            Err(err) => {
                crate::error_text::print(&err.into());
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
