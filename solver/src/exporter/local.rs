//! `--output type=local,dest=DIR` and `type=tar,dest=FILE`: the final
//! stage's filesystem itself rather than an image (BuildKit's local and
//! tar exporters). Whiteouts are applied: what is written is what a
//! container of the image would see.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use kiln_cache::{LayerRecord, Store};

use super::error::ExportError;
use crate::ops::layered::Layered;
use crate::ops::mounts::tree::materialize;
use crate::BuildError;

fn merged(store: &Store, layers: &[LayerRecord]) -> Layered {
    Layered::new(
        layers
            .iter()
            .rev()
            .map(|l| store.snapshot_path(&l.snapshot))
            .collect(),
    )
}

/// Writes the filesystem of `layers` into directory `dest`.
pub fn write_dir(store: &Store, layers: &[LayerRecord], dest: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(dest).map_err(ExportError::write(dest))?;
    if layers.is_empty() {
        return Ok(());
    }
    materialize(&merged(store, layers), Path::new(""), dest, false).map_err(|cause| {
        ExportError::Tree {
            path: dest.to_path_buf(),
            cause,
        }
    })?;
    Ok(())
}

/// Writes the filesystem of `layers` as a tar to `dest` (`-`: stdout).
pub fn write_tar(store: &Store, layers: &[LayerRecord], dest: &Path) -> Result<(), BuildError> {
    let staging = store.new_snapshot_staging()?;
    let tree = staging.path().join("rootfs");
    write_dir(store, layers, &tree)?;
    let out: Box<dyn Write> = if dest == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(File::create(dest).map_err(ExportError::write(dest))?)
    };
    let mut tar = tar::Builder::new(BufWriter::new(out));
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    tar.append_dir_all(".", &tree)
        .and_then(|_| tar.into_inner())
        .and_then(|mut w| w.flush())
        .map_err(ExportError::write(dest))?;
    Ok(())
}
