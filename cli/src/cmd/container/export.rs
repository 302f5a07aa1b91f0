//! `kiln export CONTAINER [-o FILE]`: the container's filesystem as a tar.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use kiln_engine::Engine;

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub fn run(args: ExportArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let engine = Engine::new(&globals.root);
    let Some(path) = &args.output else {
        if std::io::stdout().is_terminal() {
            bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        }
        let mut out = engine.export(&args.container, BufWriter::new(std::io::stdout().lock()))?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    };
    // No file is left behind for a container that is not there or an
    // export that fails.
    engine.container(&args.container)?;
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let written = engine
        .export(&args.container, BufWriter::new(file))
        .map_err(anyhow::Error::from)
        .and_then(|mut out| {
            out.flush()?;
            Ok(out.get_ref().sync_all()?)
        });
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written.map(|()| ExitCode::SUCCESS)
}
