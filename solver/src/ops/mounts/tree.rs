//! A stage's or image's tree (several layer directories) made into one
//! plain directory a bind mount can use. Read-only mounts get hard links
//! (no data copied; the bind is read-only, so the snapshots cannot be
//! written through them); read-write ones get copies, which the step may
//! change and which are thrown away after it (BuildKit discards a `rw`
//! bind mount's changes too).

use std::fs;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::ops::layered::Layered;

use super::{io, MountError};

/// Fills `dest` (created) with the tree at `rel` of `src`.
pub fn materialize(src: &Layered, rel: &Path, dest: &Path, link: bool) -> Result<(), MountError> {
    let real = src.resolve(rel, true);
    let (abs, meta) = src
        .lookup(&real)
        .ok_or_else(|| MountError::NotFound(rel.display().to_string()))?;
    if !meta.is_dir() {
        return entry(&abs, &meta, dest, link);
    }
    fs::create_dir_all(dest).map_err(io(dest.display()))?;
    owner_and_mode(dest, &meta)?;
    fill(src, &real, dest, link)?;
    keep_mtime(dest, &meta)
}

fn fill(src: &Layered, rel: &Path, dest: &Path, link: bool) -> Result<(), MountError> {
    for (name, abs, meta) in src.read_dir(rel) {
        let target = dest.join(&name);
        if meta.is_dir() {
            if !target.is_dir() {
                fs::create_dir(&target).map_err(io(target.display()))?;
            }
            owner_and_mode(&target, &meta)?;
            fill(src, &rel.join(&name), &target, link)?;
            keep_mtime(&target, &meta)?;
        } else {
            entry(&abs, &meta, &target, link)?;
        }
    }
    Ok(())
}

/// Copies a plain directory tree (a context path for a `rw` bind).
pub fn copy_dir(src: &Path, dest: &Path) -> Result<(), MountError> {
    let meta = fs::symlink_metadata(src).map_err(io(src.display()))?;
    if !meta.is_dir() {
        return entry(src, &meta, dest, false);
    }
    fs::create_dir_all(dest).map_err(io(dest.display()))?;
    owner_and_mode(dest, &meta)?;
    for e in fs::read_dir(src).map_err(io(src.display()))? {
        let e = e.map_err(io(src.display()))?;
        copy_dir(&e.path(), &dest.join(e.file_name()))?;
    }
    keep_mtime(dest, &meta)
}

pub(super) fn entry(
    src: &Path,
    meta: &fs::Metadata,
    dest: &Path,
    link: bool,
) -> Result<(), MountError> {
    let ft = meta.file_type();
    // A local output may land on an earlier one: newer entries win.
    if fs::symlink_metadata(dest).is_ok_and(|m| !m.is_dir()) {
        fs::remove_file(dest).map_err(io(dest.display()))?;
    }
    if ft.is_symlink() {
        let t = fs::read_link(src).map_err(io(src.display()))?;
        std::os::unix::fs::symlink(t, dest).map_err(io(dest.display()))?;
        lchown(dest, Some(meta.uid()), Some(meta.gid())).map_err(io(dest.display()))?;
        return keep_mtime(dest, meta);
    }
    if !ft.is_file() {
        return Ok(());
    }
    if link && fs::hard_link(src, dest).is_ok() {
        return Ok(());
    }
    fs::copy(src, dest).map_err(io(dest.display()))?;
    owner_and_mode(dest, meta)?;
    keep_mtime(dest, meta)
}

/// The image's modification times, as BuildKit's local and tar exporters
/// and its bind mounts show them (a copy would otherwise carry "now").
fn keep_mtime(path: &Path, meta: &fs::Metadata) -> Result<(), MountError> {
    let mtime = filetime::FileTime::from_last_modification_time(meta);
    filetime::set_symlink_file_times(path, mtime, mtime).map_err(io(path.display()))
}

pub(super) fn owner_and_mode(path: &Path, meta: &fs::Metadata) -> Result<(), MountError> {
    lchown(path, Some(meta.uid()), Some(meta.gid())).map_err(io(path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io(path.display()))
}
