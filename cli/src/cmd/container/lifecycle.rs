//! `start`, `stop`, `restart`, `kill`, `rm`, `wait`, `rename`, `pause`,
//! `unpause` (`container prune` is with the other prunes). Commands taking several containers go
//! on after a failure and exit 1 at the end, as Docker's do.

use std::process::ExitCode;
use std::time::Duration;

use kiln_runtime::container::state::Container;
use kiln_runtime::container::{lifecycle as lc, monitor};

use super::create::{containers, start_failed};
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
    mut each: impl FnMut(&Container) -> anyhow::Result<()>,
) -> ExitCode {
    let all = containers(globals);
    report(names.iter().map(|name| {
        let c = all.find(name)?;
        each(&c)?;
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
                eprintln!("kiln: error: {e:#}");
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
        let c = containers(globals).find(name)?;
        if !c.state.status.is_live() {
            kiln_runtime::container::attach::expect_client(&c.dir)?;
        }
        if let Err(e) = start_one(&c) {
            kiln_runtime::container::attach::forget_client(&c.dir);
            return Ok(start_failed(e));
        }
        let opts = kiln_runtime::container::attach::Options {
            stdin: args.interactive && c.record.open_stdin,
            detach_keys: kiln_runtime::container::attach::parse_keys(&args.detach_keys)?,
            from_start: true,
            tty: c.record.tty,
        };
        return super::attach::join(&c, &opts);
    }
    Ok(for_each(globals, &args.names, |c| Ok(start_one(c)?)))
}

/// Starts a stopped container; a running one is left alone (Docker).
fn start_one(c: &Container) -> Result<(), monitor::Error> {
    if c.state.status.is_live() {
        return Ok(());
    }
    monitor::spawn(&c.dir)
}

fn timeout(c: &Container, flag: Option<u64>) -> Duration {
    Duration::from_secs(flag.or(c.record.stop_timeout).unwrap_or(10))
}

/// Stops every container at once (as Docker's CLI does), so N
/// containers take one timeout, not N.
pub fn stop(args: StopArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let all = containers(globals);
    let results: Vec<(String, anyhow::Result<()>)> = std::thread::scope(|s| {
        let handles: Vec<_> = args
            .names
            .iter()
            .map(|name| {
                let all = &all;
                s.spawn(move || {
                    let c = all.find(name)?;
                    lc::stop(&c, timeout(&c, args.time))?;
                    anyhow::Ok(())
                })
            })
            .collect();
        args.names
            .iter()
            .cloned()
            .zip(handles)
            .map(|(n, h)| {
                (
                    n,
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("stop failed"))),
                )
            })
            .collect()
    });
    Ok(report(
        results.into_iter().map(|(name, r)| r.map(|()| name)),
    ))
}

pub fn restart(args: StopArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    Ok(for_each(globals, &args.names, |c| {
        lc::stop(c, timeout(c, args.time))?;
        // The monitor finishes its bookkeeping before a new one may start.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while kiln_runtime::container::state::monitor_alive(&c.dir)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let c = Container::load(&c.dir)?;
        monitor::spawn(&c.dir)?;
        Ok(())
    }))
}

pub fn kill(args: KillArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let sig = lc::parse_signal(&args.signal)?;
    Ok(for_each(globals, &args.names, |c| Ok(lc::kill(c, sig)?)))
}

pub fn rm(args: RmArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    Ok(for_each(globals, &args.names, |c| {
        Ok(lc::remove(c, args.force, args.volumes)?)
    }))
}

pub fn wait(args: Names, globals: &Globals) -> anyhow::Result<ExitCode> {
    let all = containers(globals);
    Ok(report(args.names.iter().map(|name| {
        let c = all.find(name)?;
        Ok(lc::wait(&c.dir)?.to_string())
    })))
}

pub fn rename(args: RenameArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    containers(globals).rename(&args.container, &args.new_name)?;
    Ok(ExitCode::SUCCESS)
}

pub fn pause(args: Names, globals: &Globals, paused: bool) -> anyhow::Result<ExitCode> {
    Ok(for_each(globals, &args.names, |c| {
        Ok(lc::set_paused(c, paused)?)
    }))
}
