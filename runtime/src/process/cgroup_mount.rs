//! The container's `/sys/fs/cgroup` (the spec's `cgroup` mount), as runc
//! builds it: on v1 a tmpfs holding one bind mount per hierarchy, each of
//! the container's own cgroup directory, so `memory.limit_in_bytes` there
//! is the container's limit; on v2 a cgroup2 mount inside the container's
//! cgroup namespace. Read-only unless the spec says `rw` (`--privileged`).

use std::path::Path;

use nix::mount::MsFlags;

use super::rootfs::{fs, ignore_exists, mount, Error, Result};
use crate::cgroups::view::{self, Hierarchy, View};
use crate::syscalls::Syscalls;

/// The flags every cgroup mount carries.
const BASE: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Mounts the view at `target`, already created. `flags` are the mount's
/// own (`ro` among them or not); `cgroupns` says whether the container has
/// its own cgroup namespace. Called after the container joined its cgroups.
pub fn mount_view<S: Syscalls>(
    sys: &S,
    target: &Path,
    flags: MsFlags,
    cgroupns: bool,
) -> Result<()> {
    let read = |p: &str| {
        sys.read_to_string(Path::new(p))
            .map_err(|source| Error::Fs {
                op: "read",
                path: p.into(),
                source,
            })
    };
    let found = view::view(&read("/proc/self/mountinfo")?, &read("/proc/self/cgroup")?);
    let ro = flags & MsFlags::MS_RDONLY;
    match found {
        View::V1(hierarchies) => v1(sys, target, ro, &hierarchies),
        View::V2 { source, .. } => v2(sys, target, ro, source.as_deref(), cgroupns),
        // No cgroup filesystem on the host: the directory stays as it is.
        View::None => Ok(()),
    }
}

fn v1<S: Syscalls>(sys: &S, target: &Path, ro: MsFlags, hierarchies: &[Hierarchy]) -> Result<()> {
    let tmpfs = Some(Path::new("tmpfs"));
    mount(sys, tmpfs, target, Some("tmpfs"), BASE, Some("mode=755"))?;
    for h in hierarchies {
        let dest = target.join(&h.name);
        fs("mkdir", &dest, sys.mkdir_all(&dest, 0o755))?;
        bind(sys, &h.source, &dest, ro)?;
        // A combined hierarchy (`cpu,cpuacct`) is also reachable by each
        // controller's name, as on the host.
        if h.name.contains(',') {
            for part in h.name.split(',') {
                let link = target.join(part);
                let made = ignore_exists(sys.symlink(Path::new(&h.name), &link));
                fs("symlink", &link, made)?;
            }
        }
    }
    // Docker (runc 1.0) also makes the tmpfs itself read-only; runc 1.1
    // leaves it writable, which only lets a container litter its own tmpfs.
    if !ro.is_empty() {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | BASE | ro;
        mount(sys, None, target, None, flags, None)?;
    }
    Ok(())
}

fn v2<S: Syscalls>(
    sys: &S,
    target: &Path,
    ro: MsFlags,
    source: Option<&Path>,
    cgroupns: bool,
) -> Result<()> {
    // Inside its own cgroup namespace a fresh cgroup2 mount shows the
    // container's cgroup as its root.
    if cgroupns {
        let src = Some(Path::new("cgroup2"));
        return mount(sys, src, target, Some("cgroup2"), BASE | ro, None);
    }
    // Without one it would show the host's whole tree: bind the
    // container's own directory instead.
    match source {
        Some(dir) => bind(sys, dir, target, ro),
        None => Ok(()),
    }
}

fn bind<S: Syscalls>(sys: &S, source: &Path, dest: &Path, ro: MsFlags) -> Result<()> {
    let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(sys, Some(source), dest, None, rbind, None)?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | BASE | ro;
    mount(sys, None, dest, None, flags, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{Call, Recording};
    use std::path::PathBuf;

    use crate::cgroups::view::HYBRID as MOUNTINFO;

    fn recording(mountinfo: &str, cgroup: &str) -> Recording {
        Recording::new()
            .with_file("/proc/self/mountinfo", mountinfo)
            .with_file("/proc/self/cgroup", cgroup)
    }

    #[test]
    fn v1_binds_each_hierarchy_read_only_on_a_tmpfs() {
        let sys = recording(
            MOUNTINFO,
            "4:memory:/m/kiln/c\n2:cpu,cpuacct:/kiln/c\n0::/\n",
        );
        let target = Path::new("/r/sys/fs/cgroup");
        mount_view(&sys, target, MsFlags::MS_RDONLY, false).unwrap();
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | BASE | MsFlags::MS_RDONLY;
        let calls = sys.calls();
        assert_eq!(
            sys.mount_targets(),
            [
                "/r/sys/fs/cgroup",
                "/r/sys/fs/cgroup/cpu,cpuacct",
                "/r/sys/fs/cgroup/cpu,cpuacct",
                "/r/sys/fs/cgroup/memory",
                "/r/sys/fs/cgroup/memory",
                "/r/sys/fs/cgroup",
            ]
            .map(PathBuf::from)
        );
        assert!(calls.contains(&Call::Mount {
            source: Some("/sys/fs/cgroup/memory/m/kiln/c".into()),
            target: "/r/sys/fs/cgroup/memory".into(),
            fstype: None,
            flags: MsFlags::MS_BIND | MsFlags::MS_REC,
            data: None,
        }));
        assert!(calls.contains(&Call::Mount {
            source: None,
            target: "/r/sys/fs/cgroup/memory".into(),
            fstype: None,
            flags: ro,
            data: None,
        }));
        assert!(calls.contains(&Call::Symlink(
            "cpu,cpuacct".into(),
            "/r/sys/fs/cgroup/cpuacct".into()
        )));
        // the unified mount of the hybrid layout is left out, as runc does
        assert!(!sys.mount_targets().iter().any(|t| t.ends_with("unified")));
    }

    #[test]
    fn privileged_view_stays_writable() {
        let sys = recording(MOUNTINFO, "4:memory:/kiln/c\n");
        mount_view(&sys, Path::new("/c"), MsFlags::empty(), false).unwrap();
        let calls = sys.calls();
        assert!(!calls.iter().any(|c| matches!(c, Call::Mount { flags, .. }
            if flags.contains(MsFlags::MS_RDONLY))));
        assert_eq!(sys.mount_targets().len(), 3);
    }

    #[test]
    fn v2_mounts_cgroup2_in_its_namespace_or_binds_its_directory() {
        let info = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let sys = recording(info, "0::/\n");
        mount_view(&sys, Path::new("/c"), MsFlags::MS_RDONLY, true).unwrap();
        assert_eq!(
            sys.calls(),
            [Call::Mount {
                source: Some("cgroup2".into()),
                target: "/c".into(),
                fstype: Some("cgroup2".into()),
                flags: BASE | MsFlags::MS_RDONLY,
                data: None,
            }]
        );
        let sys = recording(info, "0::/kiln/c\n");
        mount_view(&sys, Path::new("/c"), MsFlags::MS_RDONLY, false).unwrap();
        assert!(
            matches!(&sys.calls()[0], Call::Mount { source: Some(s), .. }
            if s == Path::new("/sys/fs/cgroup/kiln/c"))
        );
    }
}
