//! `cp` as a stream of entries (a tar on stdin or stdout), with the same
//! confinement as a copy from or to a host path: the start is resolved
//! inside the container's root, and below it every name is opened with
//! `O_NOFOLLOW`. Entries coming in are untrusted (a tar from anywhere):
//! their paths may not climb (`..`), and a symbolic link one of them
//! planted is never walked through by a later one.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstat, FileStat, Mode};
use nix::unistd::{linkat, symlinkat, unlinkat, UnlinkatFlags};

use super::{create_file, err, ioerr, list, make_dir, open_dir, resolve, split, Error, Result};

/// What [`walk`] finds at a path, never following a link.
pub enum Found {
    Dir,
    /// A regular file, open for reading.
    File(File),
    /// A symbolic link and its target.
    Symlink(PathBuf),
}

/// Visits `src` (a path in the container) and, when it is a directory,
/// everything under it, each directory before its entries. `visit` gets
/// the path relative to `src`'s parent (`src`'s own name first, `.` for
/// the root), its status, and what it is. Other kinds (devices, sockets)
/// are left out, as a copy to a host path leaves them.
pub fn walk(
    root: BorrowedFd,
    src: &Path,
    visit: &mut dyn FnMut(&Path, &FileStat, Found) -> io::Result<()>,
) -> Result<()> {
    let (parent, name) = split(src);
    let dir = resolve(root, parent, OFlag::O_DIRECTORY | OFlag::O_RDONLY)?;
    if name.is_empty() || name == "." {
        let st = fstat(dir.as_fd()).map_err(err(src))?;
        return walk_dir(dir, Path::new("."), &st, visit);
    }
    walk_entry(dir.as_fd(), OsStr::new(name), Path::new(name), visit)
}

/// `src`'s own status (a link is not followed) and, for a link, its
/// target: Docker's stat of a copy's source or destination.
pub fn stat(root: BorrowedFd, src: &Path) -> Result<(FileStat, Option<PathBuf>)> {
    let (parent, name) = split(src);
    let dir = resolve(root, parent, OFlag::O_DIRECTORY | OFlag::O_RDONLY)?;
    if name.is_empty() || name == "." {
        return Ok((fstat(dir.as_fd()).map_err(err(src))?, None));
    }
    let st = nix::sys::stat::fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(err(src))?;
    let link = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        Some(PathBuf::from(
            readlinkat(dir.as_fd(), name).map_err(err(src))?,
        ))
    } else {
        None
    };
    Ok((st, link))
}

fn walk_entry(
    dir: BorrowedFd,
    name: &OsStr,
    rel: &Path,
    visit: &mut dyn FnMut(&Path, &FileStat, Found) -> io::Result<()>,
) -> Result<()> {
    let open = |flags: OFlag| {
        openat(
            dir,
            name,
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(err(rel))
    };
    let st = fstat(open(OFlag::O_PATH)?.as_fd()).map_err(err(rel))?;
    let found = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            return walk_dir(open(OFlag::O_DIRECTORY | OFlag::O_RDONLY)?, rel, &st, visit)
        }
        libc::S_IFLNK => Found::Symlink(readlinkat(dir, name).map_err(err(rel))?.into()),
        libc::S_IFREG => Found::File(File::from(open(OFlag::O_RDONLY)?)),
        _ => return Ok(()),
    };
    visit(rel, &st, found).map_err(ioerr(rel))
}

fn walk_dir(
    dir: OwnedFd,
    rel: &Path,
    st: &FileStat,
    visit: &mut dyn FnMut(&Path, &FileStat, Found) -> io::Result<()>,
) -> Result<()> {
    visit(rel, st, Found::Dir).map_err(ioerr(rel))?;
    for name in list(dir.as_fd(), rel)? {
        let name = OsStr::from_bytes(&name);
        walk_entry(dir.as_fd(), name, &rel.join(name), visit)?;
    }
    Ok(())
}

/// An entry a stream puts in the container.
pub enum Entry<'a> {
    Dir,
    File(&'a mut dyn io::Read),
    Symlink(&'a Path),
    /// A hard link to another entry's path (relative, as `rel` is).
    Link(&'a Path),
}

/// Creates `rel` (a path relative to the container directory `dir`) with
/// permission bits `mode`. Missing parents are made; a parent that is a
/// symbolic link is refused, never followed. An existing file is
/// replaced, an existing directory kept (its mode set).
pub fn create_under(
    root: BorrowedFd,
    dir: &Path,
    rel: &Path,
    mode: u32,
    entry: Entry,
) -> Result<()> {
    let names = confined(rel)?;
    let Some((name, parents)) = names.split_last() else {
        return Ok(());
    };
    let top = resolve(root, dir, OFlag::O_DIRECTORY | OFlag::O_RDONLY)?;
    let parent = descend(top, parents, rel, true)?;
    let (parent, shown) = (parent.as_fd(), rel);
    let mode = Mode::from_bits_truncate(mode & 0o7777);
    match entry {
        Entry::Dir => {
            make_dir(parent, name, mode).map_err(err(shown))?;
            let fd = open_dir(parent, name).map_err(err(shown))?;
            fchmod(fd.as_fd(), mode).map_err(err(shown))
        }
        Entry::File(content) => {
            let fd = create_file(parent, name, mode).map_err(err(shown))?;
            fchmod(fd.as_fd(), mode).map_err(err(shown))?;
            io::copy(content, &mut File::from(fd)).map_err(ioerr(shown))?;
            Ok(())
        }
        Entry::Symlink(target) => {
            replace(parent, name, shown)?;
            symlinkat(target, parent, *name).map_err(err(shown))
        }
        Entry::Link(target) => {
            let target_names = confined(target)?;
            let Some((target_name, target_parents)) = target_names.split_last() else {
                return Err(Error::Outside(target.display().to_string()));
            };
            let top = resolve(root, dir, OFlag::O_DIRECTORY | OFlag::O_RDONLY)?;
            let from = descend(top, target_parents, target, false)?;
            replace(parent, name, shown)?;
            linkat(from.as_fd(), *target_name, parent, *name, AtFlags::empty()).map_err(err(shown))
        }
    }
}

/// `rel`'s names, refusing an entry that would climb out of the
/// destination. A leading `/` or `./` is dropped, as tar does.
fn confined(rel: &Path) -> Result<Vec<&OsStr>> {
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::Outside(rel.display().to_string()))
            }
        }
    }
    Ok(names)
}

/// The directory `names` lead to below `dir`, one name at a time without
/// following links; made when missing and `make`.
fn descend(mut dir: OwnedFd, names: &[&OsStr], shown: &Path, make: bool) -> Result<OwnedFd> {
    for name in names {
        if make {
            make_dir(dir.as_fd(), name, Mode::from_bits_truncate(0o755)).map_err(err(shown))?;
        }
        dir = open_dir(dir.as_fd(), name).map_err(|e| match e {
            // O_NOFOLLOW on a link, or O_DIRECTORY on one's target
            nix::Error::ELOOP | nix::Error::ENOTDIR => Error::Symlink(shown.display().to_string()),
            e => err(shown)(e),
        })?;
    }
    Ok(dir)
}

/// Removes a file or link at `name` so a link can take its place.
fn replace(dir: BorrowedFd, name: &OsStr, shown: &Path) -> Result<()> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::Error::ENOENT) => Ok(()),
        Err(e) => Err(err(shown)(e)),
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
