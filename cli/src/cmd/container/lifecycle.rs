//! `start`, `stop`, `restart`, `kill`, `rm`, `wait`, `rename`, `pause`,
//! `unpause` (`container prune` is with the other prunes). Commands taking several containers go
//! on after a failure and exit 1 at the end, as Docker's do. The engine
//! does each; this maps flags to its options and renders the outcome.

use std::process::ExitCode;
use std::time::Duration;

use kiln_engine::container::{
    AttachOptions, KillOptions, RemoveOptions, StartOptions, StopOptions,
};
use kiln_engine::{Engine, Error};

use super::status::start_failed;
use crate::globals::Globals;

#[derive(clap::Args)]
pub struct Names {
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// Attach to the output and wait for the end
    #[arg(short, long)]
    attach: bool,
    /// Attach the container's stdin
    #[arg(short, long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = super::attach::DEFAULT_KEYS)]
    detach_keys: String,
    #[arg(required = true, value_name = "CONTAINER")]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short, long)]
    time: Option<u64>,
    #[arg(required = true, value_name = "CONTAINER")]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct KillArgs {
    /// Signal to send
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Kill and remove a running container
    #[arg(short, long)]
    force: bool,
    /// Remove the container's anonymous volumes
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

/// Runs `each` on every named container, reporting failures and going on.
fn for_each(
    globals: &Globals,
    names: &[String],
    mut each: impl FnMut(&Engine, &str) -> Result<(), Error>,
) -> ExitCode {
    let engine = Engine::new(&globals.root);
    report(names.iter().map(|name| {
        each(&engine, name)?;
        Ok(name.clone())
    }))
}

/// Prints each success's line on stdout and each error on stderr, as
/// Docker's multi-container commands do; exit 1 when any failed.
fn report(results: impl IntoIterator<Item = anyhow::Result<String>>) -> ExitCode {
    let mut failed = false;
    for result in results {
        match result {
            Ok(line) => println!("{line}"),
            Err(e) => {
                crate::error_text::print(&e);
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn start(args: StartArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    if args.attach || args.interactive {
        let [name] = args.names.as_slice() else {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        };
        let c = match Engine::new(&globals.root).start(name, StartOptions { attach: true }) {
            Ok(c) => c,
            Err(Error::Monitor(e)) => return Ok(start_failed(e)),
            Err(e) => return Err(e.into()),
        };
        let opts = AttachOptions {
            stdin: args.interactive,
            detach_keys: args.detach_keys.parse()?,
            from_start: true,
        };
        return super::attach::join(&c, &opts);
    }
    Ok(for_each(globals, &args.names, |e, name| {
        e.start(name, StartOptions::default()).map(drop)
    }))
}

fn stop_options(args: &StopArgs) -> StopOptions {
    StopOptions {
        timeout: args.time.map(Duration::from_secs),
    }
}

pub fn stop(args: StopArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let results = Engine::new(&globals.root).stop_all(&args.names, stop_options(&args));
    Ok(report(args.names.iter().zip(results).map(|(name, r)| {
        r?;
        Ok(name.clone())
    })))
}

pub fn restart(args: StopArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let opts = stop_options(&args);
    Ok(for_each(globals, &args.names, |e, name| {
        e.restart(name, opts)
    }))
}

pub fn kill(args: KillArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let opts = KillOptions {
        signal: args.signal.parse()?,
    };
    Ok(for_each(globals, &args.names, |e, name| e.kill(name, opts)))
}

pub fn rm(args: RmArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let opts = RemoveOptions {
        force: args.force,
        volumes: args.volumes,
    };
    Ok(for_each(globals, &args.names, |e, name| {
        e.remove(name, opts)
    }))
}

pub fn wait(args: Names, globals: &Globals) -> anyhow::Result<ExitCode> {
    let engine = Engine::new(&globals.root);
    Ok(report(
        args.names
            .iter()
            .map(|name| Ok(engine.wait(name)?.to_string())),
    ))
}

pub fn rename(args: RenameArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    Engine::new(&globals.root).rename(&args.container, &args.new_name)?;
    Ok(ExitCode::SUCCESS)
}

pub fn pause(args: Names, globals: &Globals, paused: bool) -> anyhow::Result<ExitCode> {
    Ok(for_each(globals, &args.names, |e, name| {
        e.set_paused(name, paused)
    }))
}
