//! Control groups for one container: v1 (one hierarchy per controller) and
//! v2 (one unified tree) behind the [`Cgroup`] trait, chosen at run time.
//! This layer knows limits and paths, nothing of containers.

pub mod device_filter;
pub mod freezer;
pub mod stats;
mod v1;
mod v2;
pub mod view;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

pub use v1::V1;
pub use v2::V2;

/// Where the kernel's cgroup filesystems are mounted.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cgroup path {0} must be relative, without `..`")]
    BadPath(String),
    #[error("cgroup {path}: attaching the device filter: {source}")]
    DeviceFilter { path: PathBuf, source: io::Error },
    #[error("cgroup {0} still has processes after the container ended")]
    Busy(PathBuf),
    #[error("rootless: a rootless container has no cgroup of its own (cgroup v1 has no delegation to an ordinary user)")]
    Rootless,
}

pub type Result<T> = std::result::Result<T, Error>;

/// One container's cgroup, in whichever hierarchy the host runs.
pub trait Cgroup: std::fmt::Debug {
    /// Creates the cgroup directories.
    fn create(&self) -> Result<()>;
    /// Writes the limits of `resources` that this host supports.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Moves process `pid` (single-threaded: on v1 only that thread
    /// moves) into the cgroup.
    fn join(&self, pid: i32) -> Result<()>;
    /// Whether the kernel's OOM killer killed a process of this cgroup.
    fn oom_killed(&self) -> bool;
    /// Removes the cgroup directories, waiting briefly for dying processes.
    fn remove(&self) -> Result<()>;
    /// The directory holding `file` for `controller` (for tests and reports).
    fn file(&self, controller: &str, file: &str) -> Option<PathBuf>;
}

/// Opens the cgroup at `rel` (e.g. `kiln/ID`), relative to the calling
/// process's own cgroup as runc treats a relative `cgroupsPath`, so kiln run
/// inside a limited cgroup stays inside it.
pub fn open(rel: &Path) -> Result<Box<dyn Cgroup>> {
    if crate::rootless::active() {
        return Err(Error::Rootless);
    }
    open_at(Path::new(DEFAULT_ROOT), rel, &own_cgroups()?)
}

/// Opens the cgroup at `rel` that process `pid` (a container's PID 1) is
/// in, wherever its creator was: the creator's cgroups are those of the
/// process less `rel`, and the memory hierarchy may place each kiln
/// process elsewhere.
pub fn open_of_process(pid: i32, rel: &Path) -> Result<Box<dyn Cgroup>> {
    if crate::rootless::active() {
        return Err(Error::Rootless);
    }
    let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path, source })?;
    open_at(Path::new(DEFAULT_ROOT), rel, &creator_cgroups(&text, rel))
}

/// `/proc/PID/cgroup` text with `/rel` taken off the end of each path.
fn creator_cgroups(text: &str, rel: &Path) -> String {
    let suffix = format!("/{}", rel.display());
    text.lines()
        .map(|line| match line.rsplit_once(':') {
            Some((head, path)) => {
                let base = path.strip_suffix(&suffix).unwrap_or(path);
                let base = if base.is_empty() { "/" } else { base };
                format!("{head}:{base}\n")
            }
            None => format!("{line}\n"),
        })
        .collect()
}

/// Like [`open`] with an explicit mount root and `/proc/self/cgroup` text.
pub fn open_at(root: &Path, rel: &Path, proc_self_cgroup: &str) -> Result<Box<dyn Cgroup>> {
    check_relative(rel)?;
    if root.join("cgroup.controllers").exists() {
        Ok(Box::new(V2::new(root, proc_self_cgroup, rel)))
    } else {
        Ok(Box::new(V1::new(root, proc_self_cgroup, rel)))
    }
}

/// Whether the host runs the unified (v2) hierarchy only; the hybrid
/// layout (v1 controllers beside an empty cgroup2 mount) counts as v1.
pub fn is_unified() -> bool {
    Path::new(DEFAULT_ROOT).join("cgroup.controllers").exists()
}

fn own_cgroups() -> Result<String> {
    std::fs::read_to_string("/proc/self/cgroup").map_err(|source| Error::Io {
        path: "/proc/self/cgroup".into(),
        source,
    })
}

fn check_relative(rel: &Path) -> Result<()> {
    use std::path::Component;
    let ok = rel.components().all(|c| matches!(c, Component::Normal(_)))
        && rel.components().next().is_some();
    if ok {
        Ok(())
    } else {
        Err(Error::BadPath(rel.display().to_string()))
    }
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Removes `dir`, retrying while its last processes finish exiting: the
/// kernel empties a cgroup shortly after the tasks are reaped.
fn rmdir(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                return Err(Error::Busy(dir.to_path_buf()))
            }
            Err(source) => {
                return Err(Error::Io {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Finds `key N` in a flat keyed file such as `memory.events`.
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_only() {
        assert!(check_relative(Path::new("kiln/abc")).is_ok());
        assert!(check_relative(Path::new("/kiln/abc")).is_err());
        assert!(check_relative(Path::new("kiln/../x")).is_err());
        assert!(check_relative(Path::new("")).is_err());
    }

    #[test]
    fn a_process_cgroup_gives_its_creators() {
        let text = "4:memory:/outer/kiln/a\n2:pids:/kiln/a\n1:name=systemd:/elsewhere\n0::/\n";
        assert_eq!(
            creator_cgroups(text, Path::new("kiln/a")),
            "4:memory:/outer\n2:pids:/\n1:name=systemd:/elsewhere\n0::/\n"
        );
    }

    #[test]
    fn keyed_values() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(3));
        assert_eq!(keyed_value(text, "oom"), None);
    }

    #[test]
    fn detects_the_version_from_the_mount() {
        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("cgroup.controllers"), "cpu memory pids").unwrap();
        let cg = open_at(v2.path(), Path::new("kiln/a"), "0::/user\n").unwrap();
        assert_eq!(
            cg.file("memory", "memory.max").unwrap(),
            v2.path().join("user/kiln/a/memory.max")
        );
        let v1 = tempfile::tempdir().unwrap();
        std::fs::create_dir(v1.path().join("memory")).unwrap();
        let cg = open_at(v1.path(), Path::new("kiln/a"), "4:memory:/outer\n").unwrap();
        assert_eq!(
            cg.file("memory", "memory.limit_in_bytes").unwrap(),
            v1.path().join("memory/outer/kiln/a/memory.limit_in_bytes")
        );
    }
}
