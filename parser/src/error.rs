//! Errors of the Dockerfile parser. Each carries the 1-based line and column
//! it points at and the text of that line, so that callers can print
//! `FILE:LINE:COL: message`, the line and a caret.

use crate::ast::Position;

/// A Dockerfile that cannot be parsed (or typed), and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}: {kind}", position.line, position.column)]
pub struct ParseError {
    pub kind: ErrorKind,
    pub position: Position,
    /// The source line `position.line` points at, line ending removed.
    pub source_line: String,
}

/// What is wrong. The first group are BuildKit's own parse errors; the
/// second come from typing the nodes (unknown instructions and flags, bad
/// flag values, missing arguments).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("file with no instructions")]
    NoInstructions,
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    #[error("{0} must have two arguments")]
    MissingValue(&'static str),
    #[error("syntax error - can't find = in {0}. Must be of the form: name=value")]
    MissingEquals(String),
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscape(String),
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    #[error("invalid heredoc delimiter: {0}")]
    HeredocDelimiter(String),
    #[error("dockerfile line greater than max allowed size of 65535")]
    LineTooLong,

    #[error("unknown instruction: {0}")]
    UnknownInstruction(String),
    #[error("unknown flag: {flag} (for {instruction})")]
    UnknownFlag {
        instruction: &'static str,
        flag: String,
    },
    #[error("duplicate flag specified: {0}")]
    DuplicateFlag(String),
    #[error("missing a value on flag: {0}")]
    MissingFlagValue(String),
    #[error("invalid value for flag --{flag}: {message}")]
    InvalidFlagValue { flag: String, message: String },
    #[error("{instruction} requires {requirement}")]
    MissingArgument {
        instruction: &'static str,
        requirement: &'static str,
    },
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    BadOnbuildTrigger(String),
    #[error("{0}")]
    Invalid(String),
}

impl ParseError {
    /// The message as a compiler prints it: `FILE:LINE:COL: message`, then
    /// the line, then a caret under the column. Plain text, ends in `\n`.
    pub fn render(&self, file: &str) -> String {
        let caret_pad: String = self
            .source_line
            .chars()
            .take(self.position.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!(
            "{file}:{}:{}: {}\n{}\n{caret_pad}^\n",
            self.position.line, self.position.column, self.kind, self.source_line
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_puts_the_caret_under_the_column_keeping_tabs() {
        let err = ParseError {
            kind: ErrorKind::UnknownInstruction("FOO".into()),
            position: Position { line: 3, column: 3 },
            source_line: "\t FOO bar".into(),
        };
        assert_eq!(
            err.render("Dockerfile"),
            "Dockerfile:3:3: unknown instruction: FOO\n\t FOO bar\n\t ^\n"
        );
    }
}
