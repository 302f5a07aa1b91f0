//! `kiln context …`: what a build of a directory would send.

use std::io::{ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use kiln_solver::context::{explain, list, load_ignore_file};

use crate::globals::Globals;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List every path a build of DIR would send (after .dockerignore), sorted bytewise
    Ls(LsArgs),
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// The Dockerfile; its `<name>.dockerignore` takes precedence over DIR/.dockerignore
    #[arg(short = 'f', long = "file", value_name = "DOCKERFILE")]
    file: Option<PathBuf>,
    /// Explain whether PATH (relative to DIR; it need not exist) is sent, and which line decided
    #[arg(long, value_name = "PATH")]
    why: Option<String>,
    /// The build context directory
    dir: PathBuf,
}

impl Command {
    pub fn run(self, _globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            Command::Ls(args) => ls(args),
        }
    }
}

fn ls(args: LsArgs) -> anyhow::Result<ExitCode> {
    let ignore = load_ignore_file(&args.dir, args.file.as_deref())?;
    if let Some(path) = &args.why {
        println!("{}", explain(&ignore.matcher, path)?);
        return Ok(ExitCode::SUCCESS);
    }
    let entries = list(&args.dir, &ignore.matcher)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = entries.iter().try_for_each(|e| {
        out.write_all(e.path.as_os_str().as_bytes())?;
        out.write_all(b"\n")
    });
    match written.and_then(|()| out.flush()) {
        // `kiln context ls | head` closing the pipe early is not an error.
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
