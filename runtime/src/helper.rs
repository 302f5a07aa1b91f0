//! Entry point of the re-executed binary. `kiln` calls [`maybe_run`] first
//! thing in `main`: when argv[1] is a private marker, this process is a
//! helper kiln started itself, and runs that path instead of the CLI.

use std::process::ExitCode;

use crate::container::{bundle, exec, monitor};
use crate::process::init;

/// Returns `Some` when this process was started as one of kiln's helpers.
pub fn maybe_run() -> Option<ExitCode> {
    let marker = std::env::args_os().nth(1)?;
    if marker == init::MARKER {
        return Some(init::main());
    }
    if marker == monitor::MARKER {
        let dir = std::env::args_os().nth(2)?;
        return Some(monitor::main(dir.into()));
    }
    if marker == exec::MARKER {
        let json = std::env::args().nth(2)?;
        return Some(exec::main(&json));
    }
    if marker == bundle::CRUN_MARKER {
        return Some(bundle::crun_shim());
    }
    None
}
