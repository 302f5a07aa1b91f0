//! `type=bind`: a path of the context, a stage or an image, read-only
//! unless `rw` (and then on a copy, so the step's writes go nowhere).

use std::path::{Path, PathBuf};

use crate::dispatch::MountFrom;

use super::tree::{copy_dir, materialize};
use super::{filtered, io, MountEnv, MountError};

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
        MountFrom::Context | MountFrom::Empty => context_source(env, source, readwrite, dir),
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
/// With an ignore file, what it excludes is left out (a tree of links, or
/// of copies for `rw`); without one, the path itself is bound.
fn context_source(
    env: &MountEnv<'_>,
    source: &Path,
    readwrite: bool,
    dir: &Path,
) -> Result<PathBuf, MountError> {
    let context = env.context;
    let shown = source.display().to_string();
    let root = context.canonicalize().map_err(io(context.display()))?;
    let path = context
        .join(source)
        .canonicalize()
        .map_err(|_| MountError::NotFound(shown.clone()))?;
    let Ok(rel) = path.strip_prefix(&root) else {
        return Err(MountError::Outside(shown));
    };
    let ignore = &env.inputs.context_ignore;
    if !ignore.is_empty() {
        return filtered::context_tree(&root, rel, ignore, dir, !readwrite)
            .map(|()| dir.to_path_buf())
            .map_err(|e| match e {
                MountError::NotFound(_) => MountError::NotFound(shown),
                e => e,
            });
    }
    if !readwrite {
        return Ok(path);
    }
    copy_dir(&path, dir)?;
    Ok(dir.to_path_buf())
}
