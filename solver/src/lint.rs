//! Lint during builds: `kiln build --check` reports `kiln check`'s rules
//! and stops; a normal build prints the same warnings at its end, as
//! BuildKit does.

use kiln_parser::lint::{check, LintOptions, Severity};

use crate::session::BuildSession;

/// One finding, rendered `FILE:LINE:COL: warning[Rule]: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub text: String,
    pub error: bool,
}

/// The lint findings for the session's Dockerfile, for its `--target`.
pub fn lint(session: &BuildSession) -> Vec<Finding> {
    let options = LintOptions {
        target: session.options().target.clone(),
    };
    check(session.dockerfile(), &options)
        .iter()
        .map(|d| Finding {
            text: d.render(session.file()),
            error: d.severity == Severity::Error,
        })
        .collect()
}
