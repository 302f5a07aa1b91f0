//! `kiln cache why` (placeholder until its owner fills it in).

use std::process::ExitCode;

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct Args {}

#[allow(dead_code)]
pub fn run(_args: Args, _globals: &Globals) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
