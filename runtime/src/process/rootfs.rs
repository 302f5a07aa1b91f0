//! The container's filesystem: the rootfs (overlayfs or a directory), the
//! spec's mounts, `/dev`, the generated `/etc` files, `pivot_root`, then
//! Docker's masked and read-only paths. Every call goes through
//! [`Syscalls`], so the plan is unit-tested with [`crate::syscalls::Recording`].

mod dev;
mod etc;
mod masked;
mod mounts;
mod overlay;
mod resolve;

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::syscalls::Syscalls;

pub use masked::finish;
pub use overlay::distinct_lowers;
pub use resolve::secure_join;

/// Where a container's root comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rootfs {
    /// An overlay. `lowers` are listed **top first**, the order of
    /// overlayfs's `lowerdir=` option (the first entry hides the ones after
    /// it). `upper` receives every change; `work` is an empty directory on
    /// the same filesystem as `upper`. The runtime mounts it in its own
    /// mount namespace, so nothing stays mounted after the run.
    Overlay {
        lowers: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        /// Mount with overlayfs's `volatile`: no sync of the upper
        /// filesystem when the overlay goes. For containers whose upper is
        /// thrown away (`run --rm`): the unmount at the end would otherwise
        /// flush every dirty page of the whole host filesystem holding
        /// `upper`, which after a large write takes seconds.
        #[serde(default)]
        volatile: bool,
    },
    /// A plain directory, used in place (changes are written into it).
    Dir(PathBuf),
}

/// The three files Docker generates for every container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcFiles {
    pub hosts: String,
    pub hostname: String,
    pub resolv_conf: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mounting {what} on {target}: {source}")]
    Mount {
        what: String,
        target: PathBuf,
        source: io::Error,
    },
    /// EPERM for a new procfs: the kernel's rule against mounting one
    /// where the outer /proc has parts covered (`mount_too_revealing`).
    #[error(
        "mounting proc on {target}: {source}: the kernel refuses a new /proc here, as it \
         does where parts of the outer /proc are covered (in a container): unmask them \
         (docker run --security-opt systempaths=unconfined; Kubernetes procMount: Unmasked) \
         or run kiln without its process sandbox (kiln --no-process-sandbox)"
    )]
    ProcRefused { target: PathBuf, source: io::Error },
    #[error("{op} {path}: {source}")]
    Fs {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("pivot_root to {0}: {1}")]
    Pivot(PathBuf, io::Error),
    #[error("{0}: too many levels of symbolic links")]
    Loop(PathBuf),
    #[error("an overlay rootfs needs at least one lower directory")]
    NoLowers,
    #[error("{0} layers are more than one overlay mount takes here (Docker's limit is 125)")]
    TooDeep(usize),
    #[error("{0}")]
    Cgroup(String),
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// What the helper needs to build the container's filesystem.
pub struct Layout<'a> {
    /// A host directory the helper mounts a private tmpfs on (in its own
    /// mount namespace, so every container can use the same path).
    pub staging: &'a Path,
    pub rootfs: &'a Rootfs,
    pub spec: &'a Spec,
    pub etc: &'a EtcFiles,
    /// Puts the process in its cgroups; called once, before the first
    /// `cgroup` mount, whose view shows the cgroups the process is in.
    pub join: &'a dyn Fn() -> std::result::Result<(), String>,
}

/// Builds the whole filesystem and pivots into it; returns the mount-point
/// stubs it created, as paths relative to the container's root.
pub fn setup<S: Syscalls>(sys: &S, layout: &Layout) -> Result<Vec<PathBuf>> {
    let (root, stubs) = prepare(sys, layout)?;
    sys.pivot_root(&root)
        .map_err(|e| Error::Pivot(root.clone(), e))?;
    finish(sys, layout.spec)?;
    Ok(stubs)
}

/// Where the rootfs keeps a path the container wrote at `rel` (relative to
/// its root): the upper directory of an overlay, or the directory itself.
pub fn host_path(rootfs: &Rootfs, rel: &Path) -> PathBuf {
    match rootfs {
        Rootfs::Overlay { upper, .. } => upper.join(rel),
        Rootfs::Dir(dir) => dir.join(rel),
    }
}

/// Everything before `pivot_root`; returns the new root's path and the
/// /etc stubs created (relative to it).
pub fn prepare<S: Syscalls>(sys: &S, layout: &Layout) -> Result<(PathBuf, Vec<PathBuf>)> {
    mount(
        sys,
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    fs(
        "mkdir",
        layout.staging,
        sys.mkdir_all(layout.staging, 0o700),
    )?;
    let tmpfs = Some(Path::new("tmpfs"));
    mount(
        sys,
        tmpfs,
        layout.staging,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755,size=1m"),
    )?;
    let root = layout.staging.join("root");
    let etc = layout.staging.join("etc");
    for dir in [&root, &etc] {
        fs("mkdir", dir, sys.mkdir_all(dir, 0o755))?;
    }
    overlay::mount_rootfs(sys, layout.rootfs, &root)?;
    let cgroupns = mounts::has_cgroupns(layout.spec);
    for m in layout.spec.mounts().iter().flatten() {
        match m.typ().as_deref() {
            Some("cgroup") => {
                (layout.join)().map_err(Error::Cgroup)?;
                mounts::mount_cgroups(sys, &root, m, cgroupns)?;
            }
            _ => mounts::mount_entry(sys, &root, m)?,
        }
    }
    if dev::dev_is_tmpfs(layout.spec) {
        dev::populate_dev(sys, &root)?;
        dev::populate_spec_devices(sys, &root, layout.spec)?;
    }
    let stubs = etc::bind_etc_files(sys, &root, &etc, layout.etc, layout.spec)?;
    Ok((root, stubs))
}

pub(crate) fn mount<S: Syscalls>(
    sys: &S,
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    sys.mount(source, target, fstype, flags, data)
        .map_err(|e| Error::Mount {
            what: fstype
                .map(str::to_string)
                .or_else(|| source.map(|s| s.display().to_string()))
                .unwrap_or_else(|| "flags".into()),
            target: target.to_path_buf(),
            source: e,
        })
}

pub(crate) fn fs(op: &'static str, path: &Path, r: io::Result<()>) -> Result<()> {
    r.map_err(|source| Error::Fs {
        op,
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn ignore_exists(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Config;
    use crate::syscalls::{Call, Device, Kind, Recording};

    pub(super) fn layout_with<'a>(
        spec: &'a Spec,
        rootfs: &'a Rootfs,
        etc: &'a EtcFiles,
    ) -> Layout<'a> {
        Layout {
            staging: Path::new("/run/kiln/rootfs"),
            rootfs,
            spec,
            etc,
            join: &|| Ok(()),
        }
    }

    /// A host with one v1 hierarchy, as `/proc/self` shows it.
    pub(super) fn host() -> Recording {
        Recording::new()
            .with_file(
                "/proc/self/mountinfo",
                "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
            )
            .with_file("/proc/self/cgroup", "4:memory:/kiln/t\n")
    }

    pub(super) fn spec(read_only: bool) -> Spec {
        let config = Config {
            read_only,
            ..Config::default()
        };
        config.to_spec("t").unwrap()
    }
    #[test]
    fn mounts_come_in_docker_order_and_dev_is_populated() {
        let sys = host().with("/run/kiln/rootfs/root/etc", Kind::Dir);
        let rootfs = Rootfs::Dir("/images/bb".into());
        let spec = spec(false);
        let etc = EtcFiles::default();
        let (root, stubs) = prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap();
        assert_eq!(root, Path::new("/run/kiln/rootfs/root"));
        // nothing existed at /etc/hosts & co, so all three are stubs to remove later
        assert_eq!(
            stubs,
            ["etc/hosts", "etc/hostname", "etc/resolv.conf"].map(PathBuf::from)
        );
        let targets = sys.mount_targets();
        let r = |p: &str| root.join(p);
        let expect = [
            PathBuf::from("/"),
            PathBuf::from("/run/kiln/rootfs"),
            root.clone(),
            r("proc"),
            r("dev"),
            r("dev/pts"),
            r("dev/shm"),
            r("dev/mqueue"),
            r("sys"),
            r("sys/fs/cgroup"),
            r("sys/fs/cgroup/memory"),
            r("sys/fs/cgroup/memory"),
            r("sys/fs/cgroup"),
            r("etc/hosts"),
            r("etc/hostname"),
            r("etc/resolv.conf"),
        ];
        assert_eq!(targets, expect);
        let calls = sys.calls();
        assert!(calls.contains(&Call::Mknod(
            r("dev/null"),
            Device {
                major: 1,
                minor: 3,
                mode: 0o666
            }
        )));
        assert!(calls.contains(&Call::Symlink("pts/ptmx".into(), r("dev/ptmx"))));
        assert!(calls.contains(&Call::Mount {
            source: Some("/run/kiln/rootfs/etc/hosts".into()),
            target: r("etc/hosts"),
            fstype: None,
            flags: MsFlags::MS_BIND,
            data: None
        }));
    }
}
