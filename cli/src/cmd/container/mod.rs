//! Container commands: `run` and `create` (flags → the engine's options and
//! record), the lifecycle (`start`, `stop`, `kill`, `rm` …), what can be
//! seen of a container (`ps`, `logs`, `inspect` …), `exec`, and the
//! `volume` and `network` groups. Behaviour lives in `kiln_engine` (or, for
//! commands not moved there yet, `kiln_runtime`); these modules parse and
//! render.

mod attach;
mod commit;
mod cp;
mod create;
mod exec;
mod export;
mod flags;
mod lifecycle;
mod network;
mod prune;
mod run;
mod show;
mod status;
mod volume;

use std::process::ExitCode;

use crate::globals::Globals;

pub use flags::RunArgs;
pub use prune::{system_prune, SystemPruneArgs};
pub use run::run;
pub(crate) use show::{ps_item, size_text};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Run a command in a new container
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container without starting it
    #[command(disable_help_flag = true)]
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(lifecycle::StartArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Restart one or more containers
    Restart(lifecycle::StopArgs),
    /// Send a signal to one or more running containers
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers
    Rm(lifecycle::RmArgs),
    /// Block until containers stop, then print their exit codes
    Wait(lifecycle::Names),
    /// Rename a container
    Rename(lifecycle::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(lifecycle::Names),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::Names),
    /// List containers
    Ps(show::PsArgs),
    /// Fetch the logs of a container
    Logs(show::LogsArgs),
    /// Low-level information on a container, as JSON
    Inspect(show::InspectArgs),
    /// Display the running processes of a container
    Top(show::TopArgs),
    /// Changes to files or directories on a container's filesystem
    Diff(show::One),
    /// List port mappings of a container
    Port(show::PortArgs),
    /// Attach to a running container's output
    Attach(attach::AttachArgs),
    /// Run a command in a running container
    Exec(exec::ExecArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Copy files between a container and the host
    Cp(cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(export::ExportArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::Command),
    /// Manage networks
    #[command(subcommand)]
    Network(network::Command),
}

#[derive(clap::Subcommand)]
pub enum ContainerCommand {
    /// Remove all stopped containers
    Prune(prune::ContainerPruneArgs),
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            Command::Run(args) => run::run(args, globals),
            Command::Create(args) => create::create(args, globals),
            Command::Start(a) => lifecycle::start(a, globals),
            Command::Stop(a) => lifecycle::stop(a, globals),
            Command::Restart(a) => lifecycle::restart(a, globals),
            Command::Kill(a) => lifecycle::kill(a, globals),
            Command::Rm(a) => lifecycle::rm(a, globals),
            Command::Wait(a) => lifecycle::wait(a, globals),
            Command::Rename(a) => lifecycle::rename(a, globals),
            Command::Pause(a) => lifecycle::pause(a, globals, true),
            Command::Unpause(a) => lifecycle::pause(a, globals, false),
            Command::Ps(a) => show::ps(a, globals),
            Command::Logs(a) => show::logs(a, globals),
            Command::Inspect(a) => show::inspect(a, globals),
            Command::Top(a) => show::top(a, globals),
            Command::Diff(a) => show::diff(a, globals),
            Command::Port(a) => show::port(a, globals),
            Command::Attach(a) => attach::run(a, globals),
            Command::Exec(a) => exec::run(a, globals),
            Command::Cp(a) => cp::run(a, globals),
            Command::Export(a) => export::run(a, globals),
            Command::Commit(a) => commit::run(a, globals),
            Command::Container(ContainerCommand::Prune(a)) => prune::container_prune(a, globals),
            Command::Volume(c) => c.run(globals),
            Command::Network(c) => c.run(globals),
        }
    }
}
