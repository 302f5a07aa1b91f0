//! `run`: in the foreground, or with `-d` handed to the container's
//! monitor. The engine does the work; this renders its outcome.

use std::process::ExitCode;

use kiln_engine::container::CreateOptions;
use kiln_engine::Engine;

use super::flags::usage_error;
use super::flags::RunArgs;
use super::status::{report, report_error, start_failed};
use crate::early_helper;
use crate::globals::Globals;

pub fn run(args: RunArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    // Docker's CLI refuses this after parsing, with status 1.
    if let Some(conflict) = args.conflicts() {
        eprintln!("{conflict}");
        return Ok(ExitCode::from(1));
    }
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
    let engine = Engine::new(&globals.root);
    if args.detach {
        return Ok(run_detached(&engine, &opts));
    }
    // Docker's client refuses before anything starts: a pty fed from a
    // pipe or a file would never see the terminal it promises.
    if opts.tty && opts.interactive && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("the input device is not a TTY");
        return Ok(ExitCode::from(1));
    }
    // The init helper was most likely started before parsing (see
    // early_helper); if not, it starts now, while the spec is made.
    let helper = engine.init_helper(&opts, || early_helper::take(args.wanted()))?;
    Ok(match engine.run_foreground(&opts, helper) {
        Ok(outcome) => report(outcome),
        Err(err) => report_error(err),
    })
}

/// `kiln run -d`: creates, starts through a monitor, prints the ID.
fn run_detached(engine: &Engine, opts: &CreateOptions) -> ExitCode {
    let c = match engine.create(opts) {
        Ok(c) => c,
        Err(e) => return report_error(e),
    };
    match engine.start_detached(&c) {
        Ok(()) => {
            println!("{}", c.record.id);
            ExitCode::SUCCESS
        }
        Err(e) => start_failed(e),
    }
}
