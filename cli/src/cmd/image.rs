//! Image commands: images, tag, rmi, image inspect, history, import, save,
//! load (placeholder until its owner fills it in).

use std::process::ExitCode;

use crate::globals::Globals;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List images
    Images,
}

impl Command {
    pub fn run(self, _globals: &Globals) -> anyhow::Result<ExitCode> {
        anyhow::bail!("not implemented yet")
    }
}
