//! What containers and volumes hold on disk, for `kiln system df`: the
//! store cannot read container state, so the rows come from here. A
//! container is active while it runs (Docker's ACTIVE); its size is its
//! writable layer. A volume is active while any container names it.

use std::path::Path;

use super::state::Containers;
use crate::process::rootfs::Rootfs;
use crate::volume::Volumes;

/// One `system df` row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

impl Usage {
    fn add(&mut self, size: u64, active: bool) {
        self.total += 1;
        self.size += size;
        if active {
            self.active += 1;
        } else {
            self.reclaimable += size;
        }
    }
}

/// Containers: running ones are active; each one's size is its upper dir.
pub fn containers(all: &Containers) -> Usage {
    let mut u = Usage::default();
    for c in all.list().unwrap_or_default() {
        let size = match &c.record.rootfs {
            Rootfs::Overlay { upper, .. } => apparent_size(upper),
            Rootfs::Dir(_) => 0,
        };
        u.add(size, c.state.status.is_live());
    }
    u
}

/// Volumes: those some container (running or not) mounts are active.
pub fn volumes(vols: &Volumes, all: &Containers) -> Usage {
    let users = all.list().unwrap_or_default();
    let mut u = Usage::default();
    for v in vols.list().unwrap_or_default() {
        let used = users
            .iter()
            .any(|c| c.record.mounts.iter().any(|m| m.name == v.name));
        u.add(apparent_size(&v.mountpoint), used);
    }
    u
}

/// Bytes of regular files under `path`, links not followed.
pub fn apparent_size(path: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if md.is_file() {
        return md.len();
    }
    if !md.is_dir() {
        return 0;
    }
    std::fs::read_dir(path)
        .map(|d| d.flatten().map(|e| apparent_size(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_files_once_and_skip_links() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/a"), "12345").unwrap();
        std::fs::write(t.path().join("b"), "123").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.path().join("l")).unwrap();
        assert_eq!(apparent_size(t.path()), 8);
        let mut u = Usage::default();
        u.add(5, true);
        u.add(3, false);
        assert_eq!((u.total, u.active, u.size, u.reclaimable), (2, 1, 8, 3));
    }
}
