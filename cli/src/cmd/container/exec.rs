//! `kiln exec`: a command in a running container's namespaces and cgroup.

use std::process::ExitCode;

use kiln_engine::container::ExecOptions;
use kiln_engine::{Engine, Error};

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct ExecArgs {
    /// Keep STDIN open
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Run in the background
    #[arg(short, long)]
    detach: bool,
    /// Username or UID (name|uid[:group|gid])
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

/// Docker's status when exec itself fails.
const EXEC_FAILED: u8 = 126;

pub fn run(args: ExecArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    // stdin is always passed through; -i is taken for Docker's sake.
    let _ = args.interactive;
    let opts = ExecOptions {
        command: args.command,
        env: args.env,
        workdir: args.workdir,
        user: args.user,
        tty: args.tty,
        privileged: args.privileged,
        detach: args.detach,
    };
    match Engine::new(&globals.root).exec(&args.container, &opts) {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(e @ Error::Exec(_)) => {
            eprintln!("kiln: error: {e}");
            Ok(ExitCode::from(EXEC_FAILED))
        }
        Err(e) => Err(e.into()),
    }
}
