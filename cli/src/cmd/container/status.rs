//! Docker's exit statuses and messages for containers that could not be
//! made, started or run, and for those that ran.

use std::process::ExitCode;

use kiln_engine::Error;
use kiln_runtime::container::monitor;
use kiln_runtime::Outcome;

/// Docker's exit status when the container could not be created or started.
const SETUP_FAILED: u8 = 125;

/// The container's own status (128+N for signal N).
pub(super) fn report(outcome: Outcome) -> ExitCode {
    if outcome.oom_killed {
        eprintln!("kiln: the container was killed by the kernel: out of memory (OOMKilled)");
    }
    ExitCode::from(outcome.exit_code())
}

/// Docker's codes: 126/127 when the command cannot run, 125 otherwise.
pub(super) fn report_error(err: Error) -> ExitCode {
    let code = err.exec_exit_code().unwrap_or(SETUP_FAILED);
    crate::error_text::print(&anyhow::Error::from(err));
    ExitCode::from(code)
}

/// Docker's statuses for a container whose monitor could not start it.
pub(super) fn start_failed(e: monitor::Error) -> ExitCode {
    eprintln!("kiln: error: {e}");
    match e {
        monitor::Error::Start { exit_code, .. } => ExitCode::from(exit_code),
        _ => ExitCode::from(SETUP_FAILED),
    }
}
