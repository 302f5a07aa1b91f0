//! Files kiln reads out of a build context on the user's behalf: the
//! Dockerfile and the ignore files. A context is someone else's tree (a pull
//! request, a tar on stdin, a git URL), so a symlink in it is resolved
//! inside its root as BuildKit resolves it (`Dockerfile -> /etc/shadow`
//! names `<context>/etc/shadow`), never on the host. The kernel does the
//! resolution (`openat2` with `RESOLVE_IN_ROOT`), so no `..` or symlink
//! race can step out, and only regular files are read: a FIFO or a device
//! named `Dockerfile` is refused instead of blocking or streaming forever.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// Where a file the user named lives: the directory its symlinks resolve
/// in, and its path below that directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    pub root: PathBuf,
    pub relative: PathBuf,
}

impl Anchored {
    /// The path as the user knows it.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.relative)
    }
}

/// Anchors `file` (the `-f` value, relative to the working directory) to the
/// context `root` when it lies inside it, else to its own directory, as
/// BuildKit mounts a Dockerfile from outside the context by its directory.
pub fn anchor(root: &Path, file: Option<&Path>) -> Anchored {
    let Some(file) = file else {
        return Anchored {
            root: root.to_path_buf(),
            relative: PathBuf::from("Dockerfile"),
        };
    };
    let abs_root = absolute(root);
    let abs_file = absolute(file);
    if let Ok(rel) = abs_file.strip_prefix(&abs_root) {
        if !rel.as_os_str().is_empty() {
            return Anchored {
                root: root.to_path_buf(),
                relative: rel.to_path_buf(),
            };
        }
    }
    let dir = file.parent().filter(|p| !p.as_os_str().is_empty());
    Anchored {
        root: dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        relative: file
            .file_name()
            .map_or_else(|| PathBuf::from("Dockerfile"), PathBuf::from),
    }
}

/// `path` made absolute against the working directory and cleaned of `.`
/// and `..` without touching the filesystem (no symlink is followed).
fn absolute(path: &Path) -> PathBuf {
    let joined = match path.is_absolute() {
        true => path.to_path_buf(),
        false => std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path),
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Reads the regular file `relative` below `root`, every symlink on the way
/// resolved inside `root`. Not found and not-a-regular-file are errors of
/// kind `NotFound` and `InvalidInput`.
pub fn read(root: &Path, relative: &Path) -> io::Result<Vec<u8>> {
    let dir = File::open(root)?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut file = File::from(openat2(&dir, relative, how).map_err(io::Error::from)?);
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Like [`read`], with `None` when the file does not exist.
pub fn read_optional(root: &Path, relative: &Path) -> io::Result<Option<Vec<u8>>> {
    match read(root, relative) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_symlink_to_a_host_file_resolves_inside_the_root() {
        let ctx = tempfile::tempdir().unwrap();
        symlink("/etc/passwd", ctx.path().join("Dockerfile")).unwrap();
        let err = read(ctx.path(), Path::new("Dockerfile")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        std::fs::create_dir(ctx.path().join("etc")).unwrap();
        std::fs::write(ctx.path().join("etc/passwd"), "FROM scratch\n").unwrap();
        let got = read(ctx.path(), Path::new("Dockerfile")).unwrap();
        assert_eq!(got, b"FROM scratch\n");
    }

    #[test]
    fn dot_dot_and_proc_links_stay_inside() {
        let ctx = tempfile::tempdir().unwrap();
        symlink("../../../../etc/hostname", ctx.path().join("a")).unwrap();
        symlink("/proc/self/environ", ctx.path().join("b")).unwrap();
        for name in ["a", "b", "../../../etc/hostname"] {
            let err = read(ctx.path(), Path::new(name)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{name}");
        }
    }

    #[test]
    fn a_fifo_is_refused_not_waited_on() {
        let ctx = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(
            &ctx.path().join("Dockerfile"),
            Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let err = read(ctx.path(), Path::new("Dockerfile")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_symlink_within_the_context_is_followed() {
        let ctx = tempfile::tempdir().unwrap();
        std::fs::create_dir(ctx.path().join("docker")).unwrap();
        std::fs::write(ctx.path().join("docker/Dockerfile.ci"), "FROM a\n").unwrap();
        symlink("docker/Dockerfile.ci", ctx.path().join("Dockerfile")).unwrap();
        assert_eq!(
            read(ctx.path(), Path::new("Dockerfile")).unwrap(),
            b"FROM a\n"
        );
        assert_eq!(read_optional(ctx.path(), Path::new("nope")).unwrap(), None);
    }

    #[test]
    fn anchor_keeps_files_inside_the_context_relative_to_it() {
        let a = anchor(Path::new("/w/ctx"), Some(Path::new("/w/ctx/ci/Dockerfile")));
        assert_eq!(a.root, Path::new("/w/ctx"));
        assert_eq!(a.relative, Path::new("ci/Dockerfile"));
        let b = anchor(
            Path::new("/w/ctx"),
            Some(Path::new("/w/other/Dockerfile.dev")),
        );
        assert_eq!(b.root, Path::new("/w/other"));
        assert_eq!(b.relative, Path::new("Dockerfile.dev"));
        let c = anchor(Path::new("/w/ctx"), None);
        assert_eq!(c.path(), Path::new("/w/ctx/Dockerfile"));
    }
}
