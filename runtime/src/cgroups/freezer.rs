//! Freezing a process's cgroup (`kiln pause`): v1's freezer controller or
//! v2's `cgroup.freeze`, found from `/proc/PID/cgroup` so the caller needs
//! no record of where the container's cgroup lives.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Error, Result, DEFAULT_ROOT};

/// Freezes (or thaws) every process in `pid`'s cgroup and waits until
/// the kernel reports it done.
pub fn set_frozen(pid: i32, frozen: bool) -> Result<()> {
    if crate::rootless::active() {
        return Err(Error::Rootless);
    }
    let proc_path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = std::fs::read_to_string(&proc_path).map_err(|source| Error::Io {
        path: proc_path,
        source,
    })?;
    let (file, value, done) = freezer_file(Path::new(DEFAULT_ROOT), &text, frozen)
        .ok_or_else(|| Error::BadPath("no freezer hierarchy for the container".into()))?;
    super::write(&file, value)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let now = std::fs::read_to_string(&file).unwrap_or_default();
        if now.trim() == done {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(Error::Busy(file))
}

/// The file to write, the value, and the value it reads back once done.
fn freezer_file(
    root: &Path,
    proc_cgroup: &str,
    frozen: bool,
) -> Option<(PathBuf, &'static str, &'static str)> {
    let line = |pick: &dyn Fn(&str) -> bool| {
        proc_cgroup.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            pick(ctrls).then(|| path.trim_start_matches('/').to_string())
        })
    };
    if root.join("freezer").is_dir() {
        let rel = line(&|c| c.split(',').any(|x| x == "freezer"))?;
        let file = root.join("freezer").join(rel).join("freezer.state");
        let v = if frozen { "FROZEN" } else { "THAWED" };
        return Some((file, v, v));
    }
    let rel = line(&|c| c.is_empty())?;
    let base = if root.join("cgroup.controllers").exists() {
        root.to_path_buf()
    } else {
        root.join("unified")
    };
    let v = if frozen { "1" } else { "0" };
    Some((base.join(rel).join("cgroup.freeze"), v, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_uses_the_freezer_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("freezer")).unwrap();
        let text = "7:freezer:/kiln/abc\n0::/\n";
        let (file, v, _) = freezer_file(root.path(), text, true).unwrap();
        assert_eq!(file, root.path().join("freezer/kiln/abc/freezer.state"));
        assert_eq!(v, "FROZEN");
    }

    #[test]
    fn v2_uses_cgroup_freeze() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "").unwrap();
        let (file, v, _) = freezer_file(root.path(), "0::/kiln/abc\n", false).unwrap();
        assert_eq!(file, root.path().join("kiln/abc/cgroup.freeze"));
        assert_eq!(v, "0");
    }
}
