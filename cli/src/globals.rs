//! Flags every command accepts.

use std::path::PathBuf;

/// The heading they are listed under in every command's help, apart from
/// the command's own flags.
const GLOBAL: &str = "Global Options";

#[derive(clap::Args, Debug, Clone)]
pub struct Globals {
    /// Root directory of kiln's store
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "KILN_ROOT",
        default_value_os_t = crate::rootless::store_default()
    )]
    pub root: PathBuf,
    /// Print debug detail (internal errors with their causes, timings)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub debug: bool,
    /// Configuration file (registries, mirrors)
    #[arg(long, global = true, help_heading = GLOBAL, env = "KILN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Give containers and RUN steps no PID namespace or /proc of their own
    /// (for where a new /proc is refused, as in a pod without `procMount:
    /// Unmasked`); they can then see and signal kiln and one another
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "KILN_NO_PROCESS_SANDBOX"
    )]
    pub no_process_sandbox: bool,
}

impl Globals {
    /// Makes the process-wide choices the flags carry; says so when one
    /// gives up isolation.
    pub fn apply(&self) {
        if self.no_process_sandbox {
            kiln_runtime::sandbox::turn_off();
            eprintln!(
                "kiln: warning: --no-process-sandbox: containers and RUN steps share kiln's \
                 process namespace and /proc; they can see and signal kiln and one another"
            );
        }
    }
}
