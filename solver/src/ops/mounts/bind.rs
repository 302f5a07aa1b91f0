//! `type=bind`: a path of the context, a stage or an image, read-only
//! unless `rw` (and then on a copy, so the step's writes go nowhere).

use std::path::{Path, PathBuf};

use crate::dispatch::MountFrom;

use super::tree::{copy_dir, materialize};
use super::{io, MountEnv, MountError};

/// The host path to bind for a mount of `source` in `from`; `dir` is a
/// fresh scratch path it may fill.
pub fn source(
    env: &MountEnv<'_>,
    from: &MountFrom,
    source: &Path,
    readwrite: bool,
    dir: &Path,
) -> Result<PathBuf, MountError> {
    match from {
        MountFrom::Context | MountFrom::Empty => {
            context_source(env.context, source, readwrite, dir)
        }
        MountFrom::Stage(_) | MountFrom::Image(_) => {
            let layers = (env.layers_of)(from).ok_or(MountError::NoStage)?;
            if layers.layers.is_empty() {
                std::fs::create_dir_all(dir).map_err(io(dir.display()))?;
                return Ok(dir.to_path_buf());
            }
            materialize(&layers, source, dir, !readwrite)?;
            Ok(dir.to_path_buf())
        }
    }
}

/// A context path, checked to stay inside the context after symlinks.
fn context_source(
    context: &Path,
    source: &Path,
    readwrite: bool,
    dir: &Path,
) -> Result<PathBuf, MountError> {
    let shown = source.display().to_string();
    let root = context.canonicalize().map_err(io(context.display()))?;
    let path = context
        .join(source)
        .canonicalize()
        .map_err(|_| MountError::NotFound(shown.clone()))?;
    if !path.starts_with(&root) {
        return Err(MountError::Outside(shown));
    }
    if !readwrite {
        return Ok(path);
    }
    copy_dir(&path, dir)?;
    Ok(dir.to_path_buf())
}
