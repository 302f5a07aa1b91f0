//! `kiln check`: lint rules over the typed AST, with BuildKit's rule names
//! and messages where BuildKit has the rule. Every finding carries the line
//! and column of the instruction it is about. The `# check=` directive
//! (`skip=…`, `error=true`) is honoured as BuildKit does.

mod config;
mod rules;
mod stages;
mod vars;

use crate::ast::{Dockerfile, Instruction};
use crate::expand::Lexer;

use config::CheckDirective;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The rule's name, e.g. `JSONArgsRecommended`.
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    /// 1-based line and column of the instruction.
    pub line: usize,
    pub column: usize,
}

impl Diagnostic {
    /// `FILE:LINE:COL: warning[Rule]: message`.
    pub fn render(&self, file: &str) -> String {
        format!(
            "{file}:{}:{}: {}[{}]: {}",
            self.line,
            self.column,
            self.severity,
            self.rule,
            crate::excerpt::excerpt(&self.message, crate::excerpt::MESSAGE_WIDTH)
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// The stage a build would target (default: the last one); stages it
    /// does not need are reported as unreachable.
    pub target: Option<String>,
}

/// Findings as rules produce them, before the `# check=` directive applies.
#[derive(Default)]
pub(crate) struct Report(Vec<Diagnostic>);

impl Report {
    pub fn push(
        &mut self,
        rule: &'static str,
        severity: Severity,
        at: &Instruction,
        message: String,
    ) {
        self.0.push(Diagnostic {
            rule,
            severity,
            message,
            line: at.span.start_line,
            column: at.span.start_column,
        });
    }
}

/// Lint a parsed Dockerfile. Diagnostics come sorted by position.
pub fn check(df: &Dockerfile, options: &LintOptions) -> Vec<Diagnostic> {
    let mut report = Report::default();
    let stages = stages::split(df);
    for warning in &df.warnings {
        if warning.message.starts_with("Empty continuation line") {
            report.0.push(Diagnostic {
                rule: "NoEmptyContinuation",
                severity: Severity::Warning,
                message: "Empty continuation line".to_string(),
                line: warning.line,
                column: 1,
            });
        }
    }
    rules::instruction_casing(df, &mut report);
    rules::stage_names(&stages, &mut report);
    rules::stage_bodies(&stages, &mut report);
    rules::unreachable_stages(&stages, options.target.as_deref(), &mut report);
    vars::check(&stages, Lexer::new(df.escape), &mut report);
    let directive = df
        .directives
        .check
        .as_ref()
        .map(|d| CheckDirective::parse(&d.value))
        .unwrap_or_default();
    let mut out: Vec<Diagnostic> = report
        .0
        .into_iter()
        .filter(|d| d.severity == Severity::Error || !directive.skips(d.rule))
        .map(|mut d| {
            if directive.error {
                d.severity = Severity::Error;
            }
            d
        })
        .collect();
    out.sort_by(|a, b| (a.line, a.column, a.rule).cmp(&(b.line, b.column, b.rule)));
    out.dedup();
    out
}
