//! The build context: the directory a build reads `COPY`/`ADD` sources from,
//! filtered by its ignore file. This module walks it (`walk`), picks and
//! reads the ignore file BuildKit would use (`ignorefile`), and explains why
//! a path is in or out. Hashing and the stat cache build on [`Entry`].

pub mod confined;
pub mod contenthash;
mod entry;
pub mod glob;
mod ignorefile;
pub mod inputs;
pub mod named;
pub mod select;
pub mod stat_cache;
mod walk;

pub use entry::{Entry, EntryKind, Listed, Stat};
pub use ignorefile::{load_ignore_file, IgnoreFile};
pub use walk::{list, walk, walk_shared};

use std::path::PathBuf;

use kiln_parser::ignore::{normalize_path, IgnoreError, Matcher};

/// Why the build context could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
}

/// The verdict on one path, with the ignore-file line that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Excluded by a pattern (`file`, 1-based `line`, the cleaned pattern).
    Excluded {
        file: String,
        line: usize,
        pattern: String,
    },
    /// Re-included by a `!` exception (`pattern` includes the `!`).
    Included {
        file: String,
        line: usize,
        pattern: String,
    },
    /// No pattern matches.
    NoMatch,
}

/// Explain whether `path` (relative to the context root; it need not exist)
/// would be sent.
pub fn explain(matcher: &Matcher, path: &str) -> Result<Why, ContextError> {
    let decision = matcher.matches(&normalize_path(path))?;
    let Some(p) = decision.pattern.map(|i| &matcher.patterns()[i]) else {
        return Ok(Why::NoMatch);
    };
    let (file, line, pattern) = (matcher.file().to_string(), p.line(), p.to_string());
    Ok(if decision.excluded {
        Why::Excluded {
            file,
            line,
            pattern,
        }
    } else {
        Why::Included {
            file,
            line,
            pattern,
        }
    })
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Excluded {
                file,
                line,
                pattern,
            } => write!(f, "excluded by {file}:{line}: {pattern}"),
            Why::Included {
                file,
                line,
                pattern,
            } => write!(f, "included by {file}:{line}: {pattern}"),
            Why::NoMatch => f.write_str("included (no pattern matches)"),
        }
    }
}
