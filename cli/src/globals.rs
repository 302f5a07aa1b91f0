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
}
