//! `kiln cp SRC DST`, one side being `CONTAINER:PATH`.

use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use kiln_runtime::container::state::Status;
use kiln_runtime::container::{copy, filesystem};

use super::create::containers;
use crate::globals::Globals;

#[derive(clap::Args)]
pub struct CpArgs {
    /// CONTAINER:PATH or a host path
    src: String,
    /// CONTAINER:PATH or a host path
    dst: String,
}

/// `C:/path` → (C, /path); a host path (absolute or starting with `.`)
/// never names a container, as in Docker.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':')
}

pub fn run(args: CpArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let (name, inside, host, outward) = match (split(&args.src), split(&args.dst)) {
        (Some((c, p)), None) => (c, p, args.dst.as_str(), true),
        (None, Some((c, p))) => (c, p, args.src.as_str(), false),
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    };
    let c = containers(globals).find(name)?;
    let inside = if inside.starts_with('/') {
        inside.to_string()
    } else {
        format!("/{inside}")
    };
    // Docker's cp works on a container in any state. A running one's root
    // shows its volumes; a stopped one's files are its layers and upper
    // directory, and under a volume's destination, that volume's.
    let live = matches!(c.state.status, Status::Running | Status::Paused) && c.state.pid > 0;
    let mount = (!live)
        .then(|| filesystem::in_mount(&c.record.mounts, Path::new(&inside)))
        .flatten();
    let (root, inside) = match mount {
        Some((m, rest)) => filesystem::open_mount(m, rest, !outward)?,
        None => (
            filesystem::open(&c.record.rootfs, live.then_some(c.state.pid))?,
            inside.into(),
        ),
    };
    if outward {
        copy::copy_out(root.as_fd(), &inside, Path::new(host))?;
    } else {
        copy::copy_in(root.as_fd(), Path::new(host), &inside)?;
    }
    Ok(ExitCode::SUCCESS)
}
