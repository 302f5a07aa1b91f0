//! `kiln attach` and the attaching half of `start -a [-i]`: join a
//! detached container's stdio through its monitor; Ctrl-P Ctrl-Q (or
//! `--detach-keys`) leaves it running.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use kiln_runtime::container::attach::{self, End, Options};
use kiln_runtime::container::lifecycle;
use kiln_runtime::container::state::Container;

use super::create::containers;
use crate::globals::Globals;

/// Docker's default detach sequence.
pub const DEFAULT_KEYS: &str = "ctrl-p,ctrl-q";

#[derive(clap::Args)]
pub struct AttachArgs {
    /// Do not attach stdin
    #[arg(long)]
    no_stdin: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = DEFAULT_KEYS)]
    detach_keys: String,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub fn run(args: AttachArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let c = containers(globals).find(&args.container)?;
    if !c.state.status.is_live() {
        bail!("you cannot attach to a stopped container, start it first");
    }
    let opts = Options {
        stdin: !args.no_stdin && c.record.open_stdin,
        detach_keys: attach::parse_keys(&args.detach_keys)?,
        from_start: false,
        tty: c.record.tty,
    };
    join(&c, &opts)
}

/// Attached until the end (then the container's exit status) or until
/// the detach keys (then 0, as Docker).
pub fn join(c: &Container, opts: &Options) -> anyhow::Result<ExitCode> {
    match attach::attach(&c.dir, opts)? {
        End::Detached => {
            eprintln!("\r\nread escape sequence");
            Ok(ExitCode::SUCCESS)
        }
        End::Closed => {
            // The relay closes as the run ends; the state follows a moment later.
            let code = lifecycle::wait_stopped(&c.dir, Duration::from_secs(10))
                .map(|s| s.exit_code)
                .unwrap_or(0);
            Ok(ExitCode::from((code & 0xff) as u8))
        }
    }
}
