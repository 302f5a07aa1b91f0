//! Which ignore file a build uses, as BuildKit picks it: the Dockerfile's own
//! `<Dockerfile>.dockerignore` beside it wins over `<context>/.dockerignore`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use kiln_parser::ignore::{dockerfile_ignore_path, Matcher};

use super::ContextError;

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
    let dockerfile = dockerfile.map_or_else(|| context.join("Dockerfile"), Path::to_path_buf);
    for candidate in [
        dockerfile_ignore_path(&dockerfile),
        context.join(".dockerignore"),
    ] {
        match std::fs::read(&candidate) {
            Ok(bytes) => {
                let name = candidate.display().to_string();
                let matcher = Matcher::parse(&name, &String::from_utf8_lossy(&bytes))?;
                return Ok(IgnoreFile {
                    path: Some(candidate),
                    matcher,
                });
            }
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
            Err(source) => {
                return Err(ContextError::Io {
                    path: candidate,
                    source,
                })
            }
        }
    }
    Ok(IgnoreFile::default())
}
