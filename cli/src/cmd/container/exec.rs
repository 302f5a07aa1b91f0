//! `kiln exec`: a command in a running container's namespaces and cgroup.

use std::process::ExitCode;

use kiln_runtime::container::exec::{self as rexec, ExecRequest};
use kiln_runtime::container::state::Status;

use super::create::containers;
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
    let c = containers(globals).find(&args.container)?;
    match c.state.status {
        Status::Running => {}
        Status::Paused => anyhow::bail!(
            "container {} is paused, unpause the container before exec",
            c.record.name
        ),
        _ => anyhow::bail!("container {} is not running", c.record.name),
    }
    let _ = args.interactive;
    let req = ExecRequest {
        pid: c.state.pid,
        spec: c.record.spec.clone(),
        args: args.command,
        env: args.env,
        workdir: args.workdir,
        user: args.user,
        tty: args.tty,
        privileged: args.privileged,
    };
    match rexec::run(&req, args.detach) {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(e) => {
            eprintln!("kiln: error: {e}");
            Ok(ExitCode::from(EXEC_FAILED))
        }
    }
}
