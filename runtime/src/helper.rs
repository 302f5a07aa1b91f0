//! Entry point of the re-executed init helper (placeholder).

use std::process::ExitCode;

/// Returns `Some` when this process was started as the init helper.
pub fn maybe_run() -> Option<ExitCode> {
    None
}
