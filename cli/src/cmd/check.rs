//! `kiln check`: lint a Dockerfile and print `FILE:LINE:COL: warning[Rule]: message`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kiln_parser::lint::{check, LintOptions, Severity};

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// The Dockerfile to lint (`-` reads standard input)
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        default_value = "Dockerfile"
    )]
    file: PathBuf,
    /// Fail (exit 1) on warnings too, not only on errors
    #[arg(long)]
    strict: bool,
    /// The stage a build would target (default: the last); decides which stages are unreachable
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
}

pub fn run(args: Args, _globals: &Globals) -> anyhow::Result<ExitCode> {
    let (name, bytes) = read(&args.file)?;
    let dockerfile = match kiln_parser::parse::parse(&bytes) {
        Ok(df) => df,
        Err(err) => {
            eprint!("{}", err.render(&name));
            return Ok(ExitCode::from(1));
        }
    };
    let options = LintOptions {
        target: args.target,
    };
    let diagnostics = check(&dockerfile, &options);
    for d in &diagnostics {
        println!("{}", d.render(&name));
    }
    let failed = diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error || args.strict);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn read(file: &std::path::Path) -> anyhow::Result<(String, Vec<u8>)> {
    if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
        return Ok(("<stdin>".to_string(), bytes));
    }
    // The working directory may be someone else's checkout: a Dockerfile
    // that is a symlink resolves inside it (or the file's own directory).
    let at = kiln_solver::context::confined::anchor(std::path::Path::new("."), Some(file));
    let bytes = kiln_solver::context::confined::read(&at.root, &at.relative)
        .with_context(|| format!("reading {}", file.display()))?;
    Ok((file.display().to_string(), bytes))
}
