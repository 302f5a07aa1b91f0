//! `kiln debug expand`: the Dockerfile shell lexer made visible.

use std::process::ExitCode;

use anyhow::{bail, Context};
use kiln_parser::expand::Lexer;

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Set a variable for the expansion (repeatable)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Escape character, as the `# escape=` directive sets it
    #[arg(long, value_name = "CHAR", default_value = "\\", value_parser = parse_escape)]
    escape: char,
    /// Split the result into words (as list-taking instructions do), one per line
    #[arg(long)]
    words: bool,
    /// The word to expand
    #[arg(allow_hyphen_values = true)]
    word: String,
}

fn parse_escape(s: &str) -> Result<char, String> {
    match s {
        "\\" => Ok('\\'),
        "`" => Ok('`'),
        _ => Err(format!("invalid escape character {s:?}: must be \\ or `")),
    }
}

pub fn run(args: Args, _globals: &Globals) -> anyhow::Result<ExitCode> {
    let mut env = Vec::new();
    for pair in &args.env {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("invalid -e {pair:?}: expected K=V");
        };
        env.push((k.to_string(), v.to_string()));
    }
    let lexer = Lexer::new(args.escape);
    let failed = || format!("failed to process {:?}", args.word);
    if args.words {
        for word in lexer.process_words(&args.word, &env).with_context(failed)? {
            println!("{word}");
        }
    } else {
        println!(
            "{}",
            lexer.process_word(&args.word, &env).with_context(failed)?
        );
    }
    Ok(ExitCode::SUCCESS)
}
