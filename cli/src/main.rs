//! The `kiln` binary: argument parsing and rendering only. Every behaviour
//! lives in the library crates; this crate turns flags into calls and
//! results into text.

mod cmd;
mod config;
mod early_helper;
mod error_text;
mod globals;
mod management;
mod progress;
mod rootless;
mod serve;
mod table;
mod template;
mod usage;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use globals::Globals;

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build container images from Dockerfiles and run them: one binary, no daemon",
    propagate_version = true
)]
struct Cli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: a large variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Build an image from a Dockerfile
    Build(cmd::build::Args),
    /// Lint a Dockerfile: warnings and errors with file:line:column
    Check(cmd::check::Args),
    /// Inspect the build context a build would send
    #[command(subcommand)]
    Context(cmd::context::Command),
    /// Developer tools: the parse tree, word expansion
    #[command(subcommand)]
    Debug(cmd::debug::Command),
    /// Get real time events: containers, images, volumes, networks
    Events(cmd::events::Args),
    #[command(flatten)]
    Image(cmd::image::Command),
    /// See and prune the build cache and the store
    #[command(subcommand)]
    Cache(cmd::cache::Command),
    /// Store-wide summaries
    #[command(subcommand)]
    System(cmd::system::Command),
    #[command(flatten)]
    Container(cmd::container::Command),
    #[command(flatten)]
    Registry(cmd::registry::Command),
    /// Show the kiln version information
    Version(cmd::version::Args),
    /// Display system-wide information
    Info(cmd::info::Args),
    /// Display a live stream of container resource usage statistics
    Stats(cmd::stats::Args),
    /// Update configuration of one or more containers
    Update(cmd::update::Args),
    /// Search a registry's repositories (REGISTRY/TERM)
    Search(cmd::search::Args),
    /// Serve the Docker Engine API on a socket, for docker, docker-compose and the SDKs
    Serve(serve::Args),
}

/// `kiln run` alone. clap builds every command's arguments before it
/// parses any; for the whole tree that is ~0.6 ms, a tenth of a
/// container's start, so a command line that is plainly a `run` (see
/// `early_helper::after_run`) is parsed with this instead. Same flags,
/// same help and errors for `kiln run`.
#[derive(Parser)]
#[command(name = "kiln", version, propagate_version = true)]
struct RunCli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: RunOnly,
}

#[derive(Subcommand)]
enum RunOnly {
    /// Run a command in a new container
    #[command(disable_help_flag = true)]
    Run(cmd::container::RunArgs),
}

fn main() -> ExitCode {
    // The runtime re-executes this binary as its container init helper; that
    // path must run before anything else (no threads, no clap, no tokio).
    if let Some(code) = kiln_runtime::helper::maybe_run() {
        return code;
    }
    let args = management::plain(std::env::args_os().collect());
    // An ordinary user's kiln runs as root of its own user namespace.
    if let Some(code) = rootless::maybe_enter(&args) {
        return code;
    }
    if let Some(run_args) = early_helper::after_run(args.get(1..).unwrap_or_default()) {
        // A foreground `run` starts its init helper now, to overlap parsing.
        early_helper::start(run_args);
        let cli: RunCli = match usage::parse(&args) {
            Ok(cli) => cli,
            Err(code) => return code,
        };
        cli.globals.apply();
        let RunOnly::Run(run) = cli.command;
        return render(cmd::container::run(run, &cli.globals));
    }
    let cli: Cli = match usage::parse(&args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli.globals.apply();
    let result = match cli.command {
        Command::Build(args) => cmd::build::run(args, &cli.globals),
        Command::Check(args) => cmd::check::run(args, &cli.globals),
        Command::Context(c) => c.run(&cli.globals),
        Command::Debug(c) => c.run(&cli.globals),
        Command::Events(args) => cmd::events::run(args, &cli.globals),
        Command::Image(c) => c.run(&cli.globals),
        Command::Cache(c) => c.run(&cli.globals),
        Command::System(c) => c.run(&cli.globals),
        Command::Container(c) => c.run(&cli.globals),
        Command::Registry(c) => c.run(&cli.globals),
        Command::Version(args) => cmd::version::run(args, &cli.globals),
        Command::Info(args) => cmd::info::run(args, &cli.globals),
        Command::Stats(args) => cmd::stats::run(args, &cli.globals),
        Command::Update(args) => cmd::update::run(args, &cli.globals),
        Command::Search(args) => cmd::search::run(args, &cli.globals),
        Command::Serve(args) => serve::run(args, &cli.globals),
    };
    render(result)
}

fn render(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        // `kiln images | head`: the reader left, as a shell pipeline's
        // reader may; end as a process killed by SIGPIPE would, silently.
        Err(err) if stdout_reader_gone(&err) => {
            ExitCode::from(128 + nix::sys::signal::Signal::SIGPIPE as u8)
        }
        Err(err) => {
            error_text::print(&err);
            ExitCode::from(1)
        }
    }
}

/// Whether `err` is a broken pipe on stdout: the error says so and the
/// pipe behind stdout has no reader (poll reports an error on it).
fn stdout_reader_gone(err: &anyhow::Error) -> bool {
    let broken = err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::empty())];
    let polled = poll(&mut fds, PollTimeout::ZERO).unwrap_or(0);
    let errored = fds[0]
        .revents()
        .is_some_and(|r| r.contains(PollFlags::POLLERR));
    broken && polled == 1 && errored
}
