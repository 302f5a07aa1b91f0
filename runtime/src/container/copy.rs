//! `kiln cp` inside a container's root, given as a directory descriptor
//! ([`super::filesystem::open`]: `/proc/PID/root` while it runs, its
//! layers mounted detached when it is stopped). Every path inside the
//! container is resolved with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`, so a symlink the container planted (absolute,
//! `..`-laden, or a /proc magic link) resolves inside its root and can
//! never make kiln read or write a host file. Below the resolved start,
//! entries are opened one name at a time with `O_NOFOLLOW`: symlinks are
//! copied as symlinks, never followed.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::{openat, openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, mkdirat, Mode};

mod stream;

pub use stream::{create_under, stat, walk, Entry, Found};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0}: refusing to write through a symbolic link in the container")]
    Symlink(String),
    #[error("could not find the file {0} in the container")]
    NotFound(String),
    #[error("{0}: refusing an entry outside the destination directory")]
    Outside(String),
}

type Result<T> = std::result::Result<T, Error>;

fn err(path: &Path) -> impl FnOnce(nix::Error) -> Error + '_ {
    move |e| match e {
        nix::Error::ELOOP => Error::Symlink(path.display().to_string()),
        nix::Error::ENOENT => Error::NotFound(path.display().to_string()),
        e => Error::Io {
            path: path.display().to_string(),
            source: e.into(),
        },
    }
}

fn ioerr(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn resolve(root: BorrowedFd, path: &Path, flags: OFlag) -> Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, path, how).map_err(err(path))
}

/// Copies `src` (inside the container) to `dst` on the host: into `dst`
/// when it is a directory, else as `dst`.
pub fn copy_out(root: BorrowedFd, src: &Path, dst: &Path) -> Result<()> {
    let (parent, name) = split(src);
    let dir = resolve(root, parent, OFlag::O_DIRECTORY | OFlag::O_RDONLY)?;
    let target = if dst.is_dir() {
        dst.join(name)
    } else {
        dst.to_path_buf()
    };
    if name.is_empty() || name == "." {
        return copy_dir_out(dir.as_fd(), &target);
    }
    out_entry(dir.as_fd(), OsStr::new(name), &target)
}

fn split(p: &Path) -> (&Path, &str) {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent = p.parent().unwrap_or(Path::new("/"));
    (parent, name)
}

/// One entry of `dir`, never following it if it is a link.
fn out_entry(dir: BorrowedFd, name: &OsStr, target: &Path) -> Result<()> {
    let shown = Path::new(name);
    let path_fd = openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(err(shown))?;
    let st = fstat(path_fd.as_fd()).map_err(err(shown))?;
    let kind = st.st_mode & libc::S_IFMT;
    if kind == libc::S_IFLNK {
        let link = readlinkat(dir, name).map_err(err(shown))?;
        return symlink(link, target).map_err(ioerr(target));
    }
    if kind == libc::S_IFDIR {
        let sub = open_dir(dir, name).map_err(err(shown))?;
        return copy_dir_out(sub.as_fd(), target);
    }
    if kind != libc::S_IFREG {
        return Ok(());
    }
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(err(shown))?;
    let mut from = File::from(fd);
    let mut to = File::create(target).map_err(ioerr(target))?;
    io::copy(&mut from, &mut to).map_err(ioerr(target))?;
    let mode = st.st_mode & 0o7777;
    to.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(ioerr(target))
}

fn copy_dir_out(dir: BorrowedFd, target: &Path) -> Result<()> {
    std::fs::create_dir_all(target).map_err(ioerr(target))?;
    for n in list(dir, target)? {
        let name = OsStr::from_bytes(&n);
        out_entry(dir, name, &target.join(name))?;
    }
    Ok(())
}

/// The names in `dir`, without `.` and `..`.
fn list(dir: BorrowedFd, shown: &Path) -> Result<Vec<Vec<u8>>> {
    let dup = dir.try_clone_to_owned().map_err(ioerr(shown))?;
    let mut listing = nix::dir::Dir::from_fd(dup).map_err(err(shown))?;
    Ok(listing
        .iter()
        .flatten()
        .map(|e| e.file_name().to_bytes().to_vec())
        .filter(|n| n != b"." && n != b"..")
        .collect())
}

/// Copies the host path `src` to `dst` inside the container: into `dst`
/// when it is a directory there, else as `dst`. A symlink at the final
/// name is refused rather than followed.
pub fn copy_in(root: BorrowedFd, src: &Path, dst: &Path) -> Result<()> {
    let src_name = src.file_name().unwrap_or(OsStr::new("."));
    let (dir, name) = match resolve(root, dst, OFlag::O_DIRECTORY | OFlag::O_RDONLY) {
        Ok(d) => (d, src_name.to_os_string()),
        Err(_) => {
            let (parent, name) = split(dst);
            let d = resolve(root, parent, OFlag::O_DIRECTORY | OFlag::O_RDONLY)?;
            (d, OsStr::new(name).to_os_string())
        }
    };
    in_entry(dir.as_fd(), src, &name)
}

fn in_entry(dir: BorrowedFd, src: &Path, name: &OsStr) -> Result<()> {
    let meta = std::fs::symlink_metadata(src).map_err(ioerr(src))?;
    let shown = Path::new(name);
    if meta.file_type().is_symlink() {
        let link = std::fs::read_link(src).map_err(ioerr(src))?;
        return nix::unistd::symlinkat(&link, dir, name).map_err(err(shown));
    }
    if meta.is_dir() {
        make_dir(dir, name, Mode::from_bits_truncate(meta.mode() & 0o7777)).map_err(err(shown))?;
        let sub = open_dir(dir, name).map_err(err(shown))?;
        for entry in std::fs::read_dir(src).map_err(ioerr(src))? {
            let entry = entry.map_err(ioerr(src))?;
            in_entry(sub.as_fd(), &entry.path(), &entry.file_name())?;
        }
        return Ok(());
    }
    let fd = create_file(dir, name, Mode::from_bits_truncate(meta.mode() & 0o7777))
        .map_err(err(shown))?;
    let mut to = File::from(fd);
    let mut from = File::open(src).map_err(ioerr(src))?;
    io::copy(&mut from, &mut to).map_err(ioerr(src))?;
    Ok(())
}

/// The directory `name` in `dir`, refusing a link there.
fn open_dir(dir: BorrowedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::empty())
}

/// Makes the directory `name` in `dir`, keeping one already there.
fn make_dir(dir: BorrowedFd, name: &OsStr, mode: Mode) -> nix::Result<()> {
    match mkdirat(dir, name, mode) {
        Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates or truncates the file `name` in `dir` for writing, refusing a
/// link there.
fn create_file(dir: BorrowedFd, name: &OsStr, mode: Mode) -> nix::Result<OwnedFd> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, name, flags, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_symlinks_stay_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let (root, host) = (t.path().join("root"), t.path().join("host"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("secret"), "host").unwrap();
        std::fs::write(root.join("etc/secret"), "container").unwrap();
        // absolute and climbing links that would leave the root if followed on the host
        symlink(host.join("secret"), root.join("abs")).unwrap();
        symlink("../../../../../../etc", root.join("up")).unwrap();
        let rootfd: OwnedFd = File::open(&root).unwrap().into();
        let out = t.path().join("out");
        copy_out(rootfd.as_fd(), Path::new("/up/secret"), &out).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "container");
        let src = t.path().join("payload");
        std::fs::write(&src, "pwned").unwrap();
        assert!(copy_in(rootfd.as_fd(), &src, Path::new("/abs")).is_err());
        assert_eq!(
            std::fs::read_to_string(host.join("secret")).unwrap(),
            "host"
        );
        copy_in(rootfd.as_fd(), &src, Path::new("/up/new")).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("etc/new")).unwrap(),
            "pwned"
        );
    }
}
