//! Word expansion: the Dockerfile shell lexer (BuildKit's `shell` package).
//!
//! Instruction arguments go through this lexer before they are used: quotes
//! are removed, escapes applied, `$VAR` / `${VAR…}` forms expanded, and for
//! list-taking instructions the result is split into words. It is not a
//! shell: there is no command substitution, globbing or arithmetic, exactly
//! as in BuildKit.

mod pattern;
mod shell;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

/// Where the lexer looks variables up.
pub trait Env {
    /// The value of `name`, or `None` when it is unset (set-but-empty is
    /// `Some("")`: `${V:-w}` and `${V-w}` tell the two apart).
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Env for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// An ordered list of `(name, value)` pairs; a later pair overrides an
/// earlier one, as BuildKit's `EnvsFromSlice` does.
impl Env for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Env for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// Why a word could not be expanded. Messages follow BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnclosedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnclosedDoubleQuote,
    #[error("unexpected end of statement while looking for matching {0}")]
    UnexpectedEnd(char),
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${V?msg}` / `${V:?msg}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern { pattern: String, reason: String },
}

/// Everything one pass of the lexer learns about a word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word as one string (`ProcessWord`): quotes removed, variables
    /// expanded, whitespace kept.
    pub value: String,
    /// The word split at unquoted whitespace (`ProcessWords`).
    pub words: Vec<String>,
    /// Variable names the word looked up and found set.
    pub used: BTreeSet<String>,
    /// Variable names the word looked up and found unset. Positional and
    /// special parameters (`$1`, `$@`, …) are left out: they are never
    /// variables a Dockerfile could declare.
    pub unset: BTreeSet<String>,
    /// Unset names read by a form that handles absence (`${V-w}`,
    /// `${V:+w}`, `${V?m}`…): not an "undefined variable" mistake.
    pub defaulted: BTreeSet<String>,
}

/// The Dockerfile shell lexer, configured with the file's escape character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer { escape: '\\' }
    }
}

impl Lexer {
    /// A lexer for the given escape character (`\` or `` ` ``, from the
    /// `# escape=` directive).
    pub fn new(escape: char) -> Lexer {
        Lexer { escape }
    }

    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expand `word` to one string, as BuildKit's `ProcessWord`.
    pub fn process_word<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<String, ExpandError> {
        self.expand(word, env).map(|e| e.value)
    }

    /// Expand `word` and split it into words, as BuildKit's `ProcessWords`.
    pub fn process_words<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<Vec<String>, ExpandError> {
        self.expand(word, env).map(|e| e.words)
    }

    /// Expand `word` once and report both forms and the variables it read.
    pub fn expand<E: Env + ?Sized>(&self, word: &str, env: &E) -> Result<Expansion, ExpandError> {
        shell::Shell::new(word, self.escape, env).run()
    }
}

#[cfg(test)]
mod tests;
