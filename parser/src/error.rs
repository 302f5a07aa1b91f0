//! Errors of the Dockerfile parser. Each carries the 1-based line and column
//! it points at and the text of that line, so that callers can print
//! `FILE:LINE:COL: message`, the line and a caret.

use crate::ast::Position;
use crate::excerpt;

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
    /// The line and the message are short escaped excerpts: the Dockerfile
    /// may be hostile, the terminal is not.
    pub fn render(&self, file: &str) -> String {
        let (line, caret_pad) = excerpt::line_with_caret(&self.source_line, self.position.column);
        format!(
            "{}:{}:{}: {}\n{line}\n{caret_pad}^\n",
            excerpt::excerpt(file, excerpt::MESSAGE_WIDTH),
            self.position.line,
            self.position.column,
            self.message(),
        )
    }

    /// What is wrong, as a short escaped excerpt (it may quote the line).
    pub fn message(&self) -> String {
        excerpt::excerpt(&self.kind.to_string(), excerpt::MESSAGE_WIDTH)
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

    #[test]
    fn render_shows_an_escaped_excerpt_of_a_hostile_line() {
        let word = format!("\x1b]0;pwned\x07{}", "A".repeat(1_000_000));
        let err = ParseError {
            kind: ErrorKind::UnknownInstruction(word.clone()),
            position: Position { line: 1, column: 1 },
            source_line: format!("{word} x"),
        };
        let out = err.render("Dockerfile");
        assert!(out.len() < 1000, "{} bytes", out.len());
        assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out}");
        assert!(out.starts_with("Dockerfile:1:1: unknown instruction: \\x1b]0;pwned\\x07AAA"));
    }
}
