//! `kiln export CONTAINER [-o FILE]`: the container's filesystem as a tar.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use kiln_engine::output_file::OutputFile;
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
    // export that fails; /dev/null and other devices are written into.
    engine.container(&args.container)?;
    let out = OutputFile::create(path).with_context(|| format!("creating {}", path.display()))?;
    let written = engine
        .export(&args.container, BufWriter::new(out.file()))
        .map_err(anyhow::Error::from)
        .and_then(|mut w| Ok(w.flush()?));
    match written {
        Ok(()) => out
            .commit()
            .with_context(|| format!("writing {}", path.display()))?,
        Err(e) => {
            out.abandon();
            return Err(e);
        }
    }
    Ok(ExitCode::SUCCESS)
}
