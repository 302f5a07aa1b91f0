//! COPY, ADD and WORKDIR results written straight into a fresh layer
//! directory (no container): the copied entries, and every parent directory
//! they need, with the parent's metadata when the image already has it.

use std::ffi::CString;
use std::fs::{self, Metadata};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{lchown, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::context::select::Selected;
use crate::context::EntryKind;
use crate::dispatch::{CopyFrom, CopyOp};

use super::layered::{dir_meta, Layered};
use super::mode::{Chmod, ChmodError};
use super::{archive, chown};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Chown(#[from] chown::ChownError),
    #[error(transparent)]
    Chmod(#[from] ChmodError),
    #[error("\"{0}\": not found")]
    NotFound(String),
    #[error(transparent)]
    Archive(#[from] archive::ExtractError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where a copy reads and writes.
pub struct Target<'a> {
    /// The new layer directory.
    pub staging: &'a Path,
    /// The image below the new layer.
    pub below: &'a Layered,
    /// Where `--chown` names are looked up: the stage's filesystem, even
    /// for a `--link` layer written onto nothing.
    pub names: &'a Layered,
}

/// Ownership and mode rules of one COPY.
struct Rules {
    owner: Option<(u32, u32)>,
    chmod: Option<Chmod>,
    /// Directory mtimes to set once everything below is written.
    dirs: Vec<(PathBuf, i64, i64)>,
    /// `--exclude` of a stage or image source, matched below the source.
    exclude: Option<kiln_parser::ignore::Matcher>,
}

impl Rules {
    fn excluded(&self, rel: &Path) -> bool {
        let Some(m) = &self.exclude else {
            return false;
        };
        m.matches(&rel.to_string_lossy()).is_ok_and(|d| d.excluded)
    }

    /// An excluded directory is still entered when a `!` pattern may
    /// bring back something below it.
    fn may_reinclude_below(&self, rel: &Path) -> bool {
        self.exclude
            .as_ref()
            .is_some_and(|m| m.may_reinclude_below(&rel.to_string_lossy()))
    }
}

/// Runs a COPY/ADD. `context` is the context root; `source` the layers of
/// a `--from` stage or image.
pub fn copy(
    op: &CopyOp,
    context: &Path,
    source: Option<&Layered>,
    t: &Target<'_>,
) -> Result<(), FileError> {
    let owner = match &op.chown {
        Some(spec) => Some(chown::resolve(
            spec,
            &t.names.read_text("etc/passwd"),
            &t.names.read_text("etc/group"),
        )?),
        // Context and remote files arrive as 0:0 (BuildKit's file sync
        // resets owners); files from a stage keep theirs.
        None if matches!(op.from, CopyFrom::Context(_) | CopyFrom::Remote(_)) => Some((0, 0)),
        None => None,
    };
    let chmod = op.chmod.as_deref().map(Chmod::parse).transpose()?;
    let mut rules = Rules {
        owner,
        chmod,
        dirs: Vec::new(),
        exclude: op.exclude.clone(),
    };
    let dest_rel = PathBuf::from(op.dest.trim_start_matches('/'));
    let dest_is_dir = op.dest.ends_with('/') || op.multi || t.below.is_dir(&dest_rel);
    match &op.from {
        CopyFrom::Context(items) => {
            for item in items {
                copy_context_item(item, op, context, &dest_rel, dest_is_dir, t, &mut rules)?;
            }
        }
        CopyFrom::Stage(_) | CopyFrom::Image(_) | CopyFrom::Remote(_) => {
            let src = source.ok_or_else(|| FileError::NotFound("source stage".into()))?;
            for p in &op.paths {
                let parent = Path::new(p.trim_start_matches('/')).parent();
                let dest = match (op.parents, parent) {
                    (true, Some(dir)) => dest_rel.join(dir),
                    _ => dest_rel.clone(),
                };
                copy_layered(
                    src,
                    p,
                    &dest,
                    dest_is_dir || op.paths.len() > 1 || op.parents,
                    t,
                    &mut rules,
                )?;
            }
        }
    }
    for (name, body) in &op.heredocs {
        let target = if dest_is_dir {
            dest_rel.join(name)
        } else {
            dest_rel.clone()
        };
        ensure_parents(t, &target, &mut rules)?;
        let abs = t.staging.join(&target);
        fs::write(&abs, body).map_err(io(&abs))?;
        let mode = rules
            .chmod
            .as_ref()
            .map_or(0o644, |c| c.apply(0o644, false));
        finish_entry(&abs, mode, rules.owner.unwrap_or((0, 0)), None)?;
    }
    for (path, sec, nsec) in rules.dirs.iter().rev() {
        set_mtime(path, *sec, *nsec)?;
    }
    Ok(())
}

fn copy_context_item(
    item: &Selected,
    op: &CopyOp,
    context: &Path,
    dest: &Path,
    dest_is_dir: bool,
    t: &Target<'_>,
    rules: &mut Rules,
) -> Result<(), FileError> {
    let src_root = context.join(&item.root);
    // --parents: the source keeps its context path below the destination.
    let parents_dest;
    let dest = if op.parents {
        parents_dest = match item.kind {
            EntryKind::Dir => dest.join(&item.root),
            _ => dest.join(item.root.parent().unwrap_or(Path::new(""))),
        };
        &parents_dest
    } else {
        dest
    };
    let dest_is_dir = dest_is_dir || op.parents;
    if item.kind != EntryKind::Dir {
        if op.add && item.kind == EntryKind::File && archive::is_archive(&src_root) {
            ensure_dir(t, dest, rules)?;
            let abs = t.staging.join(dest);
            return Ok(archive::extract(&src_root, &abs)?);
        }
        let target = if dest_is_dir {
            dest.join(&item.name)
        } else {
            dest.to_path_buf()
        };
        ensure_parents(t, &target, rules)?;
        return place(&src_root, &target, t, rules);
    }
    // A directory source copies its contents (never the directory itself).
    ensure_dir_like(t, dest, &src_root, rules)?;
    // The entry list starts with the directory itself, except for the
    // context root, which has no entry of its own.
    // Directories first, in order (a parent before its children), then the
    // files and symlinks on every core: each is a dozen path syscalls, and
    // a 20,000-file COPY spent its time in them one by one.
    let entries: Vec<_> = item
        .entries
        .iter()
        .filter(|e| e.path != item.root)
        .map(|e| {
            let rel = e.path.strip_prefix(&item.root).unwrap_or(&e.path);
            (e.kind, context.join(&e.path), dest.join(rel))
        })
        .collect();
    for (_, src, target) in entries.iter().filter(|e| e.0 == EntryKind::Dir) {
        place(src, target, t, rules)?;
    }
    let shared: &Rules = rules;
    entries
        .par_iter()
        .filter(|e| e.0 != EntryKind::Dir)
        .try_for_each(|(_, src, target)| {
            let meta = fs::symlink_metadata(src).map_err(io(src))?;
            place_leaf(src, &meta, target, t, shared)
        })
}

fn copy_layered(
    src: &Layered,
    path: &str,
    dest: &Path,
    dest_is_dir: bool,
    t: &Target<'_>,
    rules: &mut Rules,
) -> Result<(), FileError> {
    let rel = src.resolve(Path::new(path.trim_start_matches('/')), true);
    let (abs, meta) = src
        .lookup(&rel)
        .ok_or_else(|| FileError::NotFound(path.to_string()))?;
    if !meta.is_dir() {
        let name = Path::new(path)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        if rules.excluded(&name) {
            return Ok(());
        }
        let target = if dest_is_dir {
            dest.join(name)
        } else {
            dest.to_path_buf()
        };
        ensure_parents(t, &target, rules)?;
        return place(&abs, &target, t, rules);
    }
    ensure_dir_like(t, dest, &abs, rules)?;
    copy_tree(src, &rel, Path::new(""), dest, t, rules)
}

/// Copies directory `rel` of `src` to `dest`; `under` is the path below
/// the copied source, which `--exclude` patterns match.
fn copy_tree(
    src: &Layered,
    rel: &Path,
    under: &Path,
    dest: &Path,
    t: &Target<'_>,
    rules: &mut Rules,
) -> Result<(), FileError> {
    for (name, abs, meta) in src.read_dir(rel) {
        let inner = under.join(&name);
        if rules.excluded(&inner) && !(meta.is_dir() && rules.may_reinclude_below(&inner)) {
            continue;
        }
        let target = dest.join(&name);
        place(&abs, &target, t, rules)?;
        if meta.is_dir() {
            copy_tree(src, &rel.join(&name), &inner, &target, t, rules)?;
        }
    }
    Ok(())
}

/// Writes one entry (file, symlink, directory without contents) at `rel`.
fn place(src: &Path, rel: &Path, t: &Target<'_>, rules: &mut Rules) -> Result<(), FileError> {
    let meta = fs::symlink_metadata(src).map_err(io(src))?;
    if meta.is_dir() {
        let abs = t.staging.join(rel);
        let owner = rules.owner.unwrap_or((meta.uid(), meta.gid()));
        let mode = match &rules.chmod {
            Some(c) => c.apply(meta.mode(), true),
            None => meta.mode() & 0o7777,
        };
        if !abs.is_dir() {
            remove_existing(&abs);
            fs::create_dir(&abs).map_err(io(&abs))?;
        }
        finish_entry(&abs, mode, owner, None)?;
        rules.dirs.push((abs, meta.mtime(), meta.mtime_nsec()));
        return Ok(());
    }
    place_leaf(src, &meta, rel, t, rules)
}

/// Writes one file or symlink at `rel` (its directory exists).
fn place_leaf(
    src: &Path,
    meta: &Metadata,
    rel: &Path,
    t: &Target<'_>,
    rules: &Rules,
) -> Result<(), FileError> {
    let abs = t.staging.join(rel);
    let owner = rules.owner.unwrap_or((meta.uid(), meta.gid()));
    let ft = meta.file_type();
    let mode = match &rules.chmod {
        Some(c) => c.apply(meta.mode(), ft.is_dir()),
        None => meta.mode() & 0o7777,
    };
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(io(src))?;
        remove_existing(&abs);
        std::os::unix::fs::symlink(&target, &abs).map_err(io(&abs))?;
        lchown(&abs, Some(owner.0), Some(owner.1)).map_err(io(&abs))?;
        return set_mtime(&abs, meta.mtime(), meta.mtime_nsec());
    }
    if ft.is_file() {
        return copy_regular(src, &abs, meta, mode, owner);
    }
    // Devices, fifos and sockets are not copied (BuildKit's context never has them).
    Ok(())
}

/// Copies a regular file and sets its owner, mode and times through the
/// open descriptor: a COPY of many small files is bound by syscalls, and
/// `fs::copy` plus path-based chown/chmod/utimensat took 15 per file where
/// this takes 8.
fn copy_regular(
    src: &Path,
    abs: &Path,
    meta: &Metadata,
    mode: u32,
    owner: (u32, u32),
) -> Result<(), FileError> {
    let mut from = fs::File::open(src).map_err(io(src))?;
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(abs)
    };
    let mut to = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            remove_existing(abs);
            create()
        }
        other => other,
    }
    .map_err(io(abs))?;
    copy_bytes(&mut from, &mut to, meta.len()).map_err(io(abs))?;
    let fd = to.as_fd();
    nix::unistd::fchown(fd, Some(owner.0.into()), Some(owner.1.into()))
        .map_err(|e| io(abs)(e.into()))?;
    // chown clears set-id bits, so the mode goes on after it.
    to.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io(abs))?;
    let time = nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    nix::sys::stat::futimens(fd, &time, &time).map_err(|e| io(abs)(e.into()))
}

/// `size` bytes (what the file held when listed) by copy_file_range, in
/// one call for a small file; by read and write where the kernel cannot
/// copy between the two filesystems.
fn copy_bytes(from: &mut fs::File, to: &mut fs::File, size: u64) -> std::io::Result<()> {
    let mut left = size;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(1 << 30);
        match nix::fcntl::copy_file_range(&*from, None, &*to, None, want) {
            Ok(0) => return Ok(()),
            Ok(n) => left -= n as u64,
            Err(
                nix::errno::Errno::EXDEV
                | nix::errno::Errno::EINVAL
                | nix::errno::Errno::ENOSYS
                | nix::errno::Errno::EOPNOTSUPP,
            ) => {
                std::io::copy(&mut (&*from).take(left), to)?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn remove_existing(abs: &Path) {
    if let Ok(m) = fs::symlink_metadata(abs) {
        let _ = if m.is_dir() {
            fs::remove_dir_all(abs)
        } else {
            fs::remove_file(abs)
        };
    }
}

fn finish_entry(
    abs: &Path,
    mode: u32,
    owner: (u32, u32),
    times: Option<&Metadata>,
) -> Result<(), FileError> {
    lchown(abs, Some(owner.0), Some(owner.1)).map_err(io(abs))?;
    // chown clears set-id bits, so the mode goes on after it.
    fs::set_permissions(abs, fs::Permissions::from_mode(mode)).map_err(io(abs))?;
    if let Some(m) = times {
        set_mtime(abs, m.mtime(), m.mtime_nsec())?;
    }
    Ok(())
}

fn set_mtime(abs: &Path, sec: i64, nsec: i64) -> Result<(), FileError> {
    let c = CString::new(abs.as_os_str().as_bytes())
        .map_err(|_| FileError::NotFound(abs.display().to_string()))?;
    let times = [
        libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        },
        libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        },
    ];
    // SAFETY: a valid C string and two timespecs, as utimensat requires.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(io(abs)(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Makes every parent of `rel` in the layer: with the image's metadata
/// when it has that directory, else 0755 and the COPY's owner.
fn ensure_parents(t: &Target<'_>, rel: &Path, rules: &mut Rules) -> Result<(), FileError> {
    match rel.parent() {
        Some(p) if !p.as_os_str().is_empty() => ensure_dir(t, p, rules),
        _ => Ok(()),
    }
}

fn ensure_dir(t: &Target<'_>, rel: &Path, rules: &mut Rules) -> Result<(), FileError> {
    let mut sofar = PathBuf::new();
    for c in rel.components() {
        sofar.push(c);
        let abs = t.staging.join(&sofar);
        if abs.is_dir() {
            continue;
        }
        fs::create_dir(&abs).map_err(io(&abs))?;
        let (owner, mode, mtime) = match t.below.lookup(&sofar) {
            Some((_, m)) if m.is_dir() => {
                let (u, g, mode) = dir_meta(&m);
                ((u, g), mode, Some((m.mtime(), m.mtime_nsec())))
            }
            _ => (rules.owner.unwrap_or((0, 0)), 0o755, None),
        };
        finish_entry(&abs, mode, owner, None)?;
        if let Some((s, n)) = mtime {
            rules.dirs.push((abs, s, n));
        }
    }
    Ok(())
}

/// The destination of a directory copy: existing metadata kept, else made
/// like the source directory.
fn ensure_dir_like(
    t: &Target<'_>,
    rel: &Path,
    src: &Path,
    rules: &mut Rules,
) -> Result<(), FileError> {
    if rel.as_os_str().is_empty() || t.below.is_dir(rel) {
        return ensure_dir(t, rel, rules);
    }
    ensure_parents(t, rel, rules)?;
    place(src, rel, t, rules)
}

/// WORKDIR: the directory and its missing parents, owned by the stage's
/// user when it is numeric or named in the image (BuildKit's mkdir). The
/// path's symlinks are followed inside the root, as BuildKit's `RootPath`
/// does: `WORKDIR /var/run/app` with `/var/run -> /run` makes `/run/app`.
pub fn mkdir(path: &str, owner: (u32, u32), t: &Target<'_>) -> Result<(), FileError> {
    let rel = t.below.resolve(Path::new(path), true);
    if rel.as_os_str().is_empty() || t.below.is_dir(&rel) {
        return Ok(());
    }
    let mut rules = Rules {
        owner: Some(owner),
        chmod: None,
        dirs: Vec::new(),
        exclude: None,
    };
    ensure_dir(t, &rel, &mut rules)?;
    for (path, sec, nsec) in rules.dirs.iter().rev() {
        set_mtime(path, *sec, *nsec)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
