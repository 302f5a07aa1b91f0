//! Which ignore file a build uses, as BuildKit picks it: the Dockerfile's own
//! `<Dockerfile>.dockerignore` beside it wins over `<context>/.dockerignore`.

use std::path::{Path, PathBuf};

use kiln_parser::ignore::{dockerfile_ignore_path, Matcher};

use super::{confined, ContextError};

/// The ignore file in force and its compiled patterns.
#[derive(Debug, Clone, Default)]
pub struct IgnoreFile {
    /// `None` when neither file exists (nothing is excluded).
    pub path: Option<PathBuf>,
    pub matcher: Matcher,
}

/// Find and read the ignore file for a build of `context` with `dockerfile`
/// (default `<context>/Dockerfile`).
pub fn load_ignore_file(
    context: &Path,
    dockerfile: Option<&Path>,
) -> Result<IgnoreFile, ContextError> {
    // Both files come from the context (or the Dockerfile's directory):
    // their symlinks resolve there, never on the host.
    let df = confined::anchor(context, dockerfile);
    let beside = confined::Anchored {
        relative: dockerfile_ignore_path(&df.relative),
        root: df.root,
    };
    let top = confined::Anchored {
        root: context.to_path_buf(),
        relative: PathBuf::from(".dockerignore"),
    };
    for candidate in [beside, top] {
        let path = candidate.path();
        let read = confined::read_optional(&candidate.root, &candidate.relative);
        let found = read.map_err(|source| ContextError::Io {
            path: path.clone(),
            source,
        })?;
        if let Some(bytes) = found {
            let name = path.display().to_string();
            let matcher = Matcher::parse(&name, &String::from_utf8_lossy(&bytes))?;
            return Ok(IgnoreFile {
                path: Some(path),
                matcher,
            });
        }
    }
    Ok(IgnoreFile::default())
}
