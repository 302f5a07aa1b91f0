//! `create`: the engine makes the container record; this prints its ID.

use std::process::ExitCode;

use kiln_engine::Engine;

use super::flags::RunArgs;
use super::status::report_error;
use crate::globals::Globals;

pub(super) fn create(args: RunArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let opts = args.options();
    if let Some(code) = crate::cmd::registry::pull_first(&opts, &args.pull, globals) {
        return Ok(code);
    }
    Ok(match Engine::new(&globals.root).create(&opts) {
        Ok(c) => {
            println!("{}", c.record.id);
            ExitCode::SUCCESS
        }
        Err(e) => report_error(e),
    })
}
