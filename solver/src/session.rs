//! One build's inputs, read once: the options, the Dockerfile (its bytes
//! and its AST) and the context's ignore file. The build and the lint
//! after it both read the same session, so the Dockerfile is read and
//! parsed once however many passes look at it, and `.dockerignore` is
//! loaded once for COPY sources and bind mounts alike.

use std::sync::OnceLock;

use kiln_parser::ast::Dockerfile;

use crate::build::BuildOptions;
use crate::context::{confined, load_ignore_file, IgnoreFile};
use crate::BuildError;

/// The options of a build with its Dockerfile read and parsed.
#[derive(Debug)]
pub struct BuildSession {
    options: BuildOptions,
    /// The name messages give the Dockerfile (`Dockerfile`, `app.Dockerfile`).
    file: String,
    source: Vec<u8>,
    dockerfile: Dockerfile,
    /// Loaded on first use, where a build always read it (its first COPY
    /// from the context, else when its steps start), so a broken one
    /// fails where it did; `--check` never reads it.
    ignore: OnceLock<IgnoreFile>,
}

impl BuildSession {
    /// Reads and parses the Dockerfile `options` name.
    pub fn open(options: BuildOptions) -> Result<BuildSession, BuildError> {
        let (file, source) = read_dockerfile(&options)?;
        let dockerfile = kiln_parser::parse(&source).map_err(|e| BuildError::Parse {
            file: file.clone(),
            line: e.position.line,
            column: e.position.column,
            message: e.message(),
        })?;
        Ok(BuildSession {
            options,
            file,
            source,
            dockerfile,
            ignore: OnceLock::new(),
        })
    }

    pub fn options(&self) -> &BuildOptions {
        &self.options
    }

    /// The Dockerfile's name in messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The Dockerfile as read.
    pub fn source(&self) -> &[u8] {
        &self.source
    }

    pub fn dockerfile(&self) -> &Dockerfile {
        &self.dockerfile
    }

    /// The context's ignore file (`<Dockerfile>.dockerignore`, else
    /// `.dockerignore`), read on the first call only.
    pub fn ignore(&self) -> Result<&IgnoreFile, BuildError> {
        if let Some(loaded) = self.ignore.get() {
            return Ok(loaded);
        }
        let loaded = load_ignore_file(&self.options.context, self.options.dockerfile.as_deref())?;
        Ok(self.ignore.get_or_init(|| loaded))
    }
}

/// The Dockerfile's name and bytes. The context may be someone else's:
/// its symlinks resolve inside it.
fn read_dockerfile(opts: &BuildOptions) -> Result<(String, Vec<u8>), BuildError> {
    let at = confined::anchor(&opts.context, opts.dockerfile.as_deref());
    let path = at.path();
    let bytes = confined::read(&at.root, &at.relative).map_err(|source| BuildError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let name = path
        .file_name()
        .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned());
    Ok((name, bytes))
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
