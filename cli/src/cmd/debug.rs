//! `kiln debug …`: the parser, the lexer and the seccomp profile made visible.

use std::process::ExitCode;

use crate::globals::Globals;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print the parse tree in BuildKit's reference dump format
    Ast(super::ast::Args),
    /// Print the expansion of one word as the Dockerfile shell lexer does it
    Expand(super::expand::Args),
    /// Print the seccomp profile a container gets, as JSON (Docker's format)
    Seccomp(super::seccomp::Args),
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            Command::Ast(args) => super::ast::run(args, globals),
            Command::Expand(args) => super::expand::run(args, globals),
            Command::Seccomp(args) => super::seccomp::run(args, globals),
        }
    }
}
