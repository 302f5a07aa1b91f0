//! `kiln commit`: flags to the engine's options; prints the new image's ID.

use std::process::ExitCode;

use kiln_cache::Reference;
use kiln_engine::container::CommitOptions;
use kiln_engine::Engine;

use crate::cmd::image::parse_change;
use crate::globals::Globals;

#[derive(clap::Args)]
pub struct CommitArgs {
    /// Apply a Dockerfile instruction to the image (CMD, ENV, LABEL …)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// Commit message (the history entry's comment)
    #[arg(short, long)]
    message: Option<String>,
    /// Author (e.g. "Jane <jane@example.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Pause the container while committing
    #[arg(short, long, default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pause: bool,
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// REPOSITORY[:TAG] for the new image
    reference: Option<String>,
}

pub fn run(args: CommitArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let engine = Engine::new(&globals.root);
    let opts = CommitOptions {
        changes: args
            .change
            .iter()
            .map(|c| parse_change(c))
            .collect::<Result<_, _>>()?,
        message: args.message,
        author: args.author,
        pause: args.pause,
        tags: args
            .reference
            .iter()
            .map(|r| Reference::parse_normalized(r))
            .collect::<Result<_, _>>()?,
    };
    let image = engine.commit(&args.container, &opts)?;
    println!("{}", image.id());
    Ok(ExitCode::SUCCESS)
}
