//! Where a process's own cgroups are, read from `/proc/self/mountinfo` and
//! `/proc/self/cgroup`: what a container's `/sys/fs/cgroup` shows. On v1
//! (and the hybrid layout, which runc also treats as v1) that is one
//! directory per hierarchy; on v2 it is one directory of the unified tree.

use std::path::{Path, PathBuf};

/// One v1 hierarchy as the container sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The directory name under `/sys/fs/cgroup` (the host's mount point's
    /// name: `memory`, `cpu,cpuacct`, `systemd`).
    pub name: String,
    /// The host directory of the process's cgroup in this hierarchy.
    pub source: PathBuf,
}

/// The cgroup filesystems a process belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// cgroup v1 hierarchies, each mounted once, in mountinfo order.
    V1(Vec<Hierarchy>),
    /// The unified hierarchy: its mount point and the process's directory
    /// (unknown inside a cgroup namespace, whose root lies below the
    /// mount's: mountinfo then shows the mount's root as `/../..`).
    V2 {
        mountpoint: PathBuf,
        source: Option<PathBuf>,
    },
    /// No cgroup filesystem is mounted.
    None,
}

/// One line of mountinfo, the fields this module needs.
struct MountLine<'a> {
    root: &'a str,
    mountpoint: &'a str,
    fstype: &'a str,
    super_options: &'a str,
}

fn parse_line(line: &str) -> Option<MountLine<'_>> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let mut rest = right.split(' ');
    Some(MountLine {
        root: fields.get(3)?,
        mountpoint: fields.get(4)?,
        fstype: rest.next()?,
        super_options: rest.nth(1)?,
    })
}

/// `(controllers, path)` for each line of `/proc/self/cgroup`.
fn memberships(proc_self_cgroup: &str) -> impl Iterator<Item = (&str, &str)> {
    proc_self_cgroup.lines().filter_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        Some((names, path))
    })
}

/// `mountpoint` joined with the part of `path` below the mount's `root`.
fn below(mountpoint: &str, root: &str, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path).strip_prefix(root).ok()?;
    Some(Path::new(mountpoint).join(rel))
}

/// The view of the process whose mountinfo and cgroup files these are.
pub fn view(mountinfo: &str, proc_self_cgroup: &str) -> View {
    let lines: Vec<MountLine> = mountinfo.lines().filter_map(parse_line).collect();
    let v1 = v1_hierarchies(&lines, proc_self_cgroup);
    if !v1.is_empty() {
        return View::V1(v1);
    }
    let Some(unified) = lines.iter().find(|l| l.fstype == "cgroup2") else {
        return View::None;
    };
    let own = memberships(proc_self_cgroup).find(|(names, _)| names.is_empty());
    View::V2 {
        mountpoint: PathBuf::from(unified.mountpoint),
        source: own.and_then(|(_, path)| below(unified.mountpoint, unified.root, path)),
    }
}

/// Every v1 hierarchy the process belongs to that is mounted, in
/// mountinfo order (as runc mounts them), first mount of each; a mount
/// serves the hierarchy whose controllers its options all list
/// (`cpu,cpuacct`, `name=systemd`).
fn v1_hierarchies(lines: &[MountLine], proc_self_cgroup: &str) -> Vec<Hierarchy> {
    let mut found: Vec<Hierarchy> = Vec::new();
    let mut used: Vec<&str> = Vec::new();
    for m in lines.iter().filter(|l| l.fstype == "cgroup") {
        let opts: Vec<&str> = m.super_options.split(',').collect();
        let member = memberships(proc_self_cgroup).find(|(names, _)| {
            !names.is_empty()
                && !used.contains(names)
                && names.split(',').all(|n| opts.contains(&n))
        });
        let Some((names, path)) = member else {
            continue;
        };
        let name = Path::new(m.mountpoint)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let (false, Some(source)) = (name.is_empty(), below(m.mountpoint, m.root, path)) {
            used.push(names);
            found.push(Hierarchy { name, source });
        }
    }
    found
}

/// A hybrid host's cgroup mounts as `/proc/self/mountinfo` lists them, for
/// the tests here and of the mounts made from them.
#[cfg(test)]
pub(crate) const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_lists_each_hierarchy_with_the_own_directory() {
        let cgroup = "9:name=systemd:/\n4:memory:/outer/kiln/c\n2:cpu,cpuacct:/kiln/c\n0::/\n";
        let View::V1(h) = view(HYBRID, cgroup) else {
            panic!("not v1")
        };
        let pairs: Vec<(&str, &Path)> = h
            .iter()
            .map(|h| (h.name.as_str(), h.source.as_path()))
            .collect();
        assert_eq!(
            pairs,
            [
                (
                    "cpu,cpuacct",
                    Path::new("/sys/fs/cgroup/cpu,cpuacct/kiln/c")
                ),
                ("memory", Path::new("/sys/fs/cgroup/memory/outer/kiln/c")),
                ("systemd", Path::new("/sys/fs/cgroup/systemd")),
            ]
        );
    }

    #[test]
    fn a_mount_of_a_subtree_strips_its_root() {
        let info = "35 31 0:32 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let View::V1(h) = view(info, "4:memory:/outer/kiln/c\n") else {
            panic!("not v1")
        };
        assert_eq!(h[0].source, Path::new("/sys/fs/cgroup/memory/kiln/c"));
    }

    #[test]
    fn unified_only_is_v2() {
        let info = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            view(info, "0::/user.slice/kiln/c\n"),
            View::V2 {
                mountpoint: "/sys/fs/cgroup".into(),
                source: Some("/sys/fs/cgroup/user.slice/kiln/c".into())
            }
        );
        // inside a cgroup namespace
        let info = "30 23 0:26 /../.. /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert!(matches!(
            view(info, "0::/\n"),
            View::V2 { source: None, .. }
        ));
        assert_eq!(view("", "0::/\n"), View::None);
    }
}
