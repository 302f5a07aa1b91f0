//! `kiln version`: Docker's two sections, Client and Server (kiln is both,
//! one binary), or `--format` over `{"Client": …, "Server": …}`.

use std::io::{self, Write};
use std::process::ExitCode;

use kiln_engine::info::{Build, VersionInfo};
use serde_json::json;

use crate::cmd::simple_format::{self, FormatError};
use crate::globals::Globals;

/// What build.rs found out about this binary's build.
pub const BUILD: Build<'static> = Build {
    git_commit: env!("KILN_GIT_COMMIT"),
    time: env!("KILN_BUILD_TIME"),
    rust_version: env!("KILN_RUST_VERSION"),
};

#[derive(clap::Args)]
pub struct Args {
    /// Format the output using a Go template ({{json .}}, {{.Client.Version}})
    #[arg(short, long)]
    format: Option<String>,
}

pub fn run(args: Args, _globals: &Globals) -> anyhow::Result<ExitCode> {
    let this = VersionInfo::this(&BUILD);
    let mut out = io::stdout().lock();
    if let Some(template) = args.format {
        let value = json!({"Client": this, "Server": this});
        return write_formatted(&mut out, &template, &value);
    }
    write!(out, "{}", text(&this))?;
    Ok(ExitCode::SUCCESS)
}

/// `--format` output with Docker's codes: 64 for a template that does not
/// parse, 1 for one that names a missing field.
pub fn write_formatted(
    out: &mut impl Write,
    template: &str,
    value: &serde_json::Value,
) -> anyhow::Result<ExitCode> {
    match simple_format::render(template, value) {
        Ok(text) => {
            writeln!(out, "{text}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            let code = match err {
                FormatError::Parse(_) => simple_format::PARSE_FAILED,
                FormatError::NoField(_) => 1,
            };
            crate::error_text::print(&anyhow::Error::from(err));
            Ok(ExitCode::from(code))
        }
    }
}

fn text(v: &VersionInfo) -> String {
    let lines = |indent: &str, width: usize, api: &str| {
        let rows = [
            ("Version:", v.version.clone()),
            ("API version:", api.to_string()),
            ("Rust version:", v.rust_version.clone()),
            ("Git commit:", v.git_commit.clone()),
            ("Built:", v.build_time.clone()),
            ("OS/Arch:", format!("{}/{}", v.os, v.arch)),
        ];
        rows.iter()
            .map(|(k, val)| format!("{indent}{k:<width$}{val}\n"))
            .collect::<String>()
    };
    format!(
        "Client:\n{}\nServer:\n Engine:\n{}",
        lines(" ", 19, &v.api_version),
        lines(
            "  ",
            18,
            &format!("{} (minimum version 1.12)", v.api_version)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_line_up_as_dockers_do() {
        let v = VersionInfo::this(&Build {
            git_commit: "abc1234",
            time: "Thu May 18 08:38:34 2023",
            rust_version: "1.83.0",
        });
        let t = text(&v);
        assert!(t.starts_with("Client:\n Version:           "), "{t}");
        assert!(t.contains("\n API version:       1.41\n"), "{t}");
        assert!(
            t.contains("\nServer:\n Engine:\n  Version:          "),
            "{t}"
        );
        assert!(
            t.contains("  API version:      1.41 (minimum version 1.12)\n"),
            "{t}"
        );
        assert!(t.contains(" Git commit:        abc1234\n"), "{t}");
    }
}
