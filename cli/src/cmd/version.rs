//! `kiln version`: Docker's two sections, Client and Server (kiln is both,
//! one binary), or `--format` over `{"Client": …, "Server": …}`.

use std::io::{self, Write};
use std::process::ExitCode;

use kiln_engine::info::{Build, VersionInfo};
use serde_json::json;

use crate::globals::Globals;
use crate::template::{self, from_json, Template};

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
        let mut value = json!({"Client": this, "Server": this});
        go_field_names(&mut value);
        return write_formatted(&mut out, &template, &value);
    }
    write!(out, "{}", text(&this))?;
    Ok(ExitCode::SUCCESS)
}

/// `--format` output through the shared template facility, with Docker's
/// codes: 64 for a template that does not parse, 1 for one that fails
/// (a field the document lacks, as a Go struct's).
pub fn write_formatted(
    out: &mut impl Write,
    template: &str,
    value: &serde_json::Value,
) -> anyhow::Result<ExitCode> {
    let rendered = Template::list(template).and_then(|t| t.one(&from_json(value)));
    match rendered {
        Ok(text) => {
            writeln!(out, "{text}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => Ok(template::refuse(&err, template::PARSE_FAILED)),
    }
}

/// Docker's templates read the Go struct's field `APIVersion`, whose JSON
/// key is `ApiVersion`: both are there, so `{{.Server.APIVersion}}` works
/// as scripts and SDK tests write it.
fn go_field_names(value: &mut serde_json::Value) {
    for side in ["Client", "Server"] {
        if let Some(map) = value.get_mut(side).and_then(|v| v.as_object_mut()) {
            if let Some(v) = map.get("ApiVersion").cloned() {
                map.insert("APIVersion".to_string(), v);
            }
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
