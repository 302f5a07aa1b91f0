//! A container's filesystem as one directory descriptor, running or not,
//! for `kiln cp`. A running container's is `/proc/PID/root`. A stopped
//! one's is what `docker cp` sees too: its image layers under its upper
//! directory, so a file deleted in the container (a whiteout) is absent
//! and what is copied in lands in the upper directory. kiln mounts that
//! overlay with the new mount API (`fsopen`/`fsmount`) as a *detached*
//! mount: it is attached nowhere, no other process can see it, and it goes
//! away when the descriptor is closed, so a crash leaves no mount behind.
//! A stopped container's volumes and bind mounts are not mounted in that
//! tree; [`in_mount`] says when a path lies in one, so `cp` goes there.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::state::MountPoint;
use crate::process::rootfs::Rootfs;
use crate::syscalls::{Real, Syscalls};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("opening the container's filesystem {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("mounting the container's filesystem ({step}): {source}")]
    Mount {
        step: &'static str,
        source: io::Error,
    },
    #[error("the container's filesystem has no layers to mount")]
    NoLayers,
    #[error("a layer path contains a character overlayfs cannot take: {0}")]
    BadPath(PathBuf),
    #[error("{0}: the volume mounted there is read-only")]
    ReadOnly(String),
}

/// The root of the container: its live root while `pid` runs (`Some`),
/// else its layers mounted detached.
pub fn open(rootfs: &Rootfs, pid: Option<i32>) -> Result<OwnedFd, Error> {
    if let Some(pid) = pid {
        return open_dir(&PathBuf::from(format!("/proc/{pid}/root")));
    }
    match rootfs {
        Rootfs::Dir(dir) => open_dir(dir),
        Rootfs::Overlay {
            lowers,
            upper,
            work,
            ..
        } => mount_overlay(&Real, lowers, upper, work),
    }
}

/// The volume or bind mount that `path` (inside the container) lies in,
/// if any, and the path within it: the mount with the longest destination
/// that is `path` or one of its parents, compared after `.` and `..` are
/// resolved by name (as the container would, short of its symlinks).
pub fn in_mount<'m>(mounts: &'m [MountPoint], path: &Path) -> Option<(&'m MountPoint, PathBuf)> {
    let path = lexical(path);
    mounts
        .iter()
        .filter_map(|m| {
            let rest = path.strip_prefix(lexical(Path::new(&m.destination))).ok()?;
            Some((m, Path::new("/").join(rest)))
        })
        .max_by_key(|(m, _)| lexical(Path::new(&m.destination)).components().count())
}

/// Where to copy from (`write` false) or into for `rest`, a path inside
/// `mount` ([`in_mount`]): its source directory and `rest`, or for a file
/// mounted on its own, the file's directory and its name.
pub fn open_mount(
    mount: &MountPoint,
    rest: PathBuf,
    write: bool,
) -> Result<(OwnedFd, PathBuf), Error> {
    if write && mount.read_only {
        return Err(Error::ReadOnly(mount.destination.clone()));
    }
    match (mount.source.parent(), mount.source.file_name()) {
        (Some(dir), Some(name)) if rest == Path::new("/") && !mount.source.is_dir() => {
            Ok((open_dir(dir)?, Path::new("/").join(name)))
        }
        _ => Ok((open_dir(&mount.source)?, rest)),
    }
}

/// `/a/./b/../c` → `/a/c`; never above `/`.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn open_dir(path: &Path) -> Result<OwnedFd, Error> {
    let f = std::fs::File::open(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(f.into())
}

/// overlayfs's option syntax separates lowers with `:` and options with
/// `,`; a path holding either (or a NUL) cannot be passed safely.
fn option_path(p: &Path) -> Result<CString, Error> {
    let bytes = p.as_os_str().as_bytes();
    if bytes.iter().any(|b| matches!(b, b':' | b',')) {
        return Err(Error::BadPath(p.to_path_buf()));
    }
    CString::new(bytes).map_err(|_| Error::BadPath(p.to_path_buf()))
}

fn lowerdir(lowers: &[PathBuf]) -> Result<CString, Error> {
    if lowers.is_empty() {
        return Err(Error::NoLayers);
    }
    let parts: Vec<CString> = crate::process::rootfs::distinct_lowers(lowers)
        .into_iter()
        .map(|l| option_path(l))
        .collect::<Result<_, _>>()?;
    let joined: Vec<&[u8]> = parts.iter().map(|c| c.as_bytes()).collect();
    CString::new(joined.join(&b':')).map_err(|_| Error::NoLayers)
}

fn mount_overlay<S: Syscalls>(
    sys: &S,
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
) -> Result<OwnedFd, Error> {
    let layers: Vec<CString> = crate::process::rootfs::distinct_lowers(lowers)
        .into_iter()
        .map(|l| option_path(l))
        .collect::<Result<_, _>>()?;
    if layers.is_empty() {
        return Err(Error::NoLayers);
    }
    let options = [
        ("upperdir", option_path(upper)?),
        ("workdir", option_path(work)?),
    ];
    let fs = sys.fsopen("overlay").map_err(failed("fsopen"))?;
    add_layers(sys, fs.as_fd(), &layers, lowers)?;
    for (key, value) in &options {
        sys.fsconfig_string(fs.as_fd(), key, value)
            .map_err(failed(key))?;
    }
    sys.fsconfig_create(fs.as_fd())
        .map_err(failed("creating the overlay"))?;
    sys.fsmount(fs.as_fd()).map_err(failed("fsmount"))
}

/// The layers, top first, one `lowerdir+` each (Linux 6.8): fsconfig
/// takes at most 256 bytes of a value, so a joined `lowerdir` holds only a
/// handful of store paths. A kernel that knows no `lowerdir+` refuses the
/// first one, and gets the joined list as before.
fn add_layers<S: Syscalls>(
    sys: &S,
    fs: BorrowedFd,
    layers: &[CString],
    lowers: &[PathBuf],
) -> Result<(), Error> {
    for (i, layer) in layers.iter().enumerate() {
        match sys.fsconfig_string(fs, "lowerdir+", layer) {
            Ok(()) => {}
            Err(e) if i == 0 && e.raw_os_error() == Some(libc::EINVAL) => {
                return sys
                    .fsconfig_string(fs, "lowerdir", &lowerdir(lowers)?)
                    .map_err(failed("lowerdir"));
            }
            Err(e) => return Err(failed("lowerdir+")(e)),
        }
    }
    Ok(())
}

fn failed(step: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Mount { step, source }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;
    use crate::syscalls::{Call, Device, Recording};

    fn point(destination: &str, source: &str) -> MountPoint {
        MountPoint {
            kind: "volume".into(),
            name: String::new(),
            source: source.into(),
            destination: destination.into(),
            read_only: false,
            anonymous: false,
        }
    }

    #[test]
    fn a_path_under_a_mount_is_found_in_it_the_deepest_first() {
        let mounts = [point("/data", "/v/data"), point("/data/cache/", "/v/cache")];
        let found = |p: &str| in_mount(&mounts, Path::new(p)).map(|(m, r)| (m.source.clone(), r));
        assert_eq!(found("/data/x"), Some(("/v/data".into(), "/x".into())));
        assert_eq!(found("/data"), Some(("/v/data".into(), "/".into())));
        assert_eq!(
            found("/data/cache/a/b"),
            Some(("/v/cache".into(), "/a/b".into()))
        );
        assert_eq!(
            found("/etc/../data/./y"),
            Some(("/v/data".into(), "/y".into()))
        );
        assert_eq!(found("/database"), None);
        assert_eq!(found("/data/../etc/passwd"), None);
    }

    #[test]
    fn layer_paths_that_overlayfs_would_misread_are_refused() {
        let ok = lowerdir(&[PathBuf::from("/s/2"), PathBuf::from("/s/1")]).unwrap();
        assert_eq!(ok.as_bytes(), b"/s/2:/s/1");
        assert!(matches!(lowerdir(&[]), Err(Error::NoLayers)));
        for bad in ["/a:b", "/a,upperdir=/etc"] {
            let e = lowerdir(&[PathBuf::from(bad)]).unwrap_err();
            assert!(matches!(e, Error::BadPath(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn a_stopped_containers_overlay_is_configured_then_mounted_detached() {
        let sys = Recording::new();
        let lowers = [PathBuf::from("/s/2"), PathBuf::from("/s/1")];
        mount_overlay(&sys, &lowers, Path::new("/c/upper"), Path::new("/c/work")).unwrap();
        let option = |k: &str, v: &str| Call::Fsconfig(k.into(), v.into());
        assert_eq!(
            sys.calls(),
            [
                Call::Fsopen("overlay".into()),
                option("lowerdir+", "/s/2"),
                option("lowerdir+", "/s/1"),
                option("upperdir", "/c/upper"),
                option("workdir", "/c/work"),
                Call::FsconfigCreate,
                Call::Fsmount,
            ]
        );
    }

    #[test]
    fn a_kernel_without_lowerdir_plus_gets_the_joined_list() {
        let sys = Recording::new().failing(1, libc::EINVAL);
        let lowers = [PathBuf::from("/s/2"), PathBuf::from("/s/1")];
        mount_overlay(&sys, &lowers, Path::new("/c/upper"), Path::new("/c/work")).unwrap();
        let calls = sys.calls();
        assert_eq!(calls[1], Call::Fsconfig("lowerdir+".into(), "/s/2".into()));
        assert_eq!(
            calls[2],
            Call::Fsconfig("lowerdir".into(), "/s/2:/s/1".into())
        );
        assert_eq!(
            calls[3],
            Call::Fsconfig("upperdir".into(), "/c/upper".into())
        );
    }

    #[test]
    fn a_failed_mount_step_is_named_and_nothing_follows_it() {
        let sys = Recording::new().failing(2, libc::ENOENT);
        let lowers = [PathBuf::from("/s/1")];
        let e = mount_overlay(&sys, &lowers, Path::new("/gone"), Path::new("/w")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "mounting the container's filesystem (upperdir): No such file or directory (os error 2)"
        );
        assert_eq!(sys.calls().len(), 3);
        let bad = mount_overlay(&sys, &lowers, Path::new("/u,x"), Path::new("/w"));
        assert!(matches!(bad, Err(Error::BadPath(_))));
        assert_eq!(sys.calls().len(), 3, "a bad path is refused before fsopen");
    }

    #[test]
    fn a_stopped_containers_root_is_its_layers_under_its_upper() {
        if !crate::testkit::privileged() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let [lower, upper, work] = ["lower", "upper", "work"].map(|d| t.path().join(d));
        for d in [&lower, &upper, &work] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(lower.join("base"), "from the image").unwrap();
        std::fs::write(lower.join("gone"), "deleted in the container").unwrap();
        // overlayfs's whiteout: a 0/0 character device in the upper dir
        let whiteout = Device {
            major: 0,
            minor: 0,
            mode: 0,
        };
        Real.mknod(&upper.join("gone"), whiteout).unwrap();
        let rootfs = Rootfs::Overlay {
            lowers: vec![lower.clone()],
            upper: upper.clone(),
            work,
            volatile: false,
        };
        let root = open(&rootfs, None).unwrap();
        let dir = std::fs::File::from(root);
        let base = format!("/proc/self/fd/{}/base", dir.as_raw_fd());
        assert_eq!(std::fs::read_to_string(&base).unwrap(), "from the image");
        let gone = format!("/proc/self/fd/{}/gone", dir.as_raw_fd());
        assert!(!Path::new(&gone).exists(), "the whiteout hides it");
        let new = format!("/proc/self/fd/{}/new", dir.as_raw_fd());
        std::fs::write(new, "copied in").unwrap();
        assert_eq!(
            std::fs::read_to_string(upper.join("new")).unwrap(),
            "copied in"
        );
        assert!(!lower.join("new").exists());
    }
}
