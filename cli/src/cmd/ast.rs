//! `kiln debug ast`: the parse tree in BuildKit's reference dump format.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// The Dockerfile to parse (`-` reads standard input)
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        default_value = "Dockerfile"
    )]
    file: PathBuf,
}

pub fn run(args: Args, _globals: &Globals) -> anyhow::Result<ExitCode> {
    let (name, input) = read(&args.file)?;
    match kiln_parser::parse_raw(&input) {
        Ok(file) => {
            let mut out = std::io::stdout().lock();
            out.write_all(file.dump().as_bytes())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprint!("{}", err.render(&name));
            Ok(ExitCode::from(1))
        }
    }
}

/// The file's display name and bytes.
fn read(path: &std::path::Path) -> anyhow::Result<(String, Vec<u8>)> {
    if path.as_os_str() == "-" {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .context("reading the Dockerfile from standard input")?;
        return Ok(("<stdin>".into(), input));
    }
    let input = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((path.display().to_string(), input))
}
