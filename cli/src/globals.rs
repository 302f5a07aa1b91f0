//! Flags every command accepts.

use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct Globals {
    /// Root directory of kiln's store
    #[arg(
        long,
        global = true,
        env = "KILN_ROOT",
        default_value = "/var/lib/kiln"
    )]
    pub root: PathBuf,
    /// Print debug detail (internal errors with their causes, timings)
    #[arg(long, global = true)]
    pub debug: bool,
    /// Configuration file (registries, mirrors)
    #[arg(long, global = true, env = "KILN_CONFIG")]
    pub config: Option<PathBuf>,
}
