//! `create`: the engine makes the container record; this prints its ID.

use std::process::ExitCode;

use kiln_engine::Engine;

use super::flags::usage_error;
use super::flags::RunArgs;
use super::status::report_error;
use crate::globals::Globals;

pub(super) fn create(args: RunArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let opts = match args.options() {
        Ok(opts) => opts,
        Err(err) => return Ok(usage_error(&err)),
    };
    if let Err(err) = opts.check() {
        return Ok(usage_error(&err.into()));
    }
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
