//! Lint during builds: `kiln build --check` reports `kiln check`'s rules
//! and stops; a normal build prints the same warnings at its end, as
//! BuildKit does.

use kiln_parser::lint::{check, LintOptions, Severity};

use crate::build::{read_dockerfile, BuildOptions};
use crate::BuildError;

/// One finding, rendered `FILE:LINE:COL: warning[Rule]: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub text: String,
    pub error: bool,
}

/// The lint findings for the Dockerfile of `opts`, for its `--target`.
pub fn lint(opts: &BuildOptions) -> Result<Vec<Finding>, BuildError> {
    let (file, source) = read_dockerfile(opts)?;
    let df = kiln_parser::parse(&source).map_err(|e| BuildError::Parse {
        file: file.clone(),
        line: e.position.line,
        column: e.position.column,
        message: e.message(),
    })?;
    let options = LintOptions {
        target: opts.target.clone(),
    };
    Ok(check(&df, &options)
        .iter()
        .map(|d| Finding {
            text: d.render(&file),
            error: d.severity == Severity::Error,
        })
        .collect())
}
