//! `kiln attach` and the attaching half of `start -a [-i]`: the engine
//! joins the container's stdio; Ctrl-P Ctrl-Q (or `--detach-keys`) leaves
//! it running.

use std::process::ExitCode;

use kiln_engine::container::{attach_to, AttachEnd, AttachOptions};
use kiln_engine::Engine;
use kiln_runtime::container::state::Container;

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
    let opts = AttachOptions {
        stdin: !args.no_stdin,
        detach_keys: args.detach_keys.parse()?,
        from_start: false,
    };
    let end = Engine::new(&globals.root).attach(&args.container, &opts)?;
    Ok(exit(end))
}

/// `start -a`'s attach to the container it just started.
pub fn join(c: &Container, opts: &AttachOptions) -> anyhow::Result<ExitCode> {
    Ok(exit(attach_to(c, opts)?))
}

/// The container's exit status, or 0 after the detach keys (as Docker).
fn exit(end: AttachEnd) -> ExitCode {
    match end {
        AttachEnd::Detached => {
            eprintln!("\r\nread escape sequence");
            ExitCode::SUCCESS
        }
        AttachEnd::Exited(code) => ExitCode::from((code & 0xff) as u8),
    }
}
