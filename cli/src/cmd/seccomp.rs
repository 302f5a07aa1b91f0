//! `kiln debug seccomp`: the seccomp profile kiln gives a container, as
//! JSON that `docker run --security-opt seccomp=FILE` and Kubernetes'
//! `Localhost` profiles read. The runner image's profile is made by it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use kiln_runtime::process::seccomp::profile;
use kiln_runtime::spec::Config;

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Add a capability, as `run --cap-add` does (repeatable)
    #[arg(long = "cap-add", value_name = "CAP")]
    cap_add: Vec<String>,
    /// Drop a capability, as `run --cap-drop` does (repeatable)
    #[arg(long = "cap-drop", value_name = "CAP")]
    cap_drop: Vec<String>,
    /// The profile for a container that runs kiln rootless (the runner
    /// image's): the default, plus the calls kiln's user namespace needs
    #[arg(long)]
    runner: bool,
}

pub fn run(args: Args, _globals: &Globals) -> anyhow::Result<ExitCode> {
    let config = Config {
        cap_add: args.cap_add,
        cap_drop: args.cap_drop,
        ..Config::default()
    };
    let caps = config.capabilities().context("--cap-add/--cap-drop")?;
    let mut out = std::io::stdout().lock();
    let profile = match args.runner {
        true => profile::runner(&caps),
        false => profile::docker_default(&caps),
    };
    serde_json::to_writer_pretty(&mut out, &profile)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
