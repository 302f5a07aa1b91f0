//! `kiln cp SRC DST`, one side being `CONTAINER:PATH`, the other a host
//! path or `-` for a tar on stdout or stdin.

use std::io::{stdin, stdout};
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use kiln_engine::Engine;

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
    let engine = Engine::new(&globals.root);
    match (split(&args.src), split(&args.dst)) {
        (Some((c, inside)), None) if args.dst == "-" => engine.copy_out_tar(c, inside, stdout())?,
        (None, Some((c, inside))) if args.src == "-" => engine.copy_in_tar(c, inside, stdin())?,
        (Some((c, inside)), None) => engine.copy_out(c, inside, Path::new(&args.dst))?,
        (None, Some((c, inside))) => engine.copy_in(c, Path::new(&args.src), inside)?,
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
    Ok(ExitCode::SUCCESS)
}
