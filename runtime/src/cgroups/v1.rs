//! cgroup v1: one hierarchy per controller (`/sys/fs/cgroup/memory`, …).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::{keyed_value, mkdir, rmdir, write, Cgroup, Result};

/// Hierarchies a container cannot do without: limits and OOM reports
/// (memory), fork bombs (pids), quota and shares (cpu), `pause`
/// (freezer) and the device allow-list (devices). The others (cpuacct,
/// blkio, cpuset, name=systemd, …) are joined when possible, so the
/// container sees its own cgroup in each as with runc, and skipped when not.
const ESSENTIAL: [&str; 5] = ["memory", "pids", "cpu", "freezer", "devices"];

#[derive(Debug)]
struct Dir {
    /// The hierarchy's controllers as `/proc/self/cgroup` lists them.
    names: String,
    /// The caller's own cgroup in that hierarchy.
    base: PathBuf,
    /// The container's: `base` joined with the relative path.
    path: PathBuf,
}

impl Dir {
    fn has(&self, controller: &str) -> bool {
        self.names.split(',').any(|n| n == controller)
    }

    fn essential(&self) -> bool {
        ESSENTIAL.iter().any(|c| self.has(c))
    }
}

#[derive(Debug)]
pub struct V1 {
    dirs: Vec<Dir>,
}

impl V1 {
    /// `proc_self_cgroup` is the text of `/proc/self/cgroup`, which gives the
    /// caller's own place in each hierarchy; every mounted hierarchy listed
    /// there gets a directory for the container.
    pub fn new(root: &Path, proc_self_cgroup: &str, rel: &Path) -> V1 {
        let dirs = proc_self_cgroup
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ':');
                let (_, names, own) = (parts.next()?, parts.next()?, parts.next()?);
                let mount = mount_dir(root, names)?;
                let base = mount.join(own.trim_start_matches('/'));
                Some(Dir {
                    names: names.to_string(),
                    path: base.join(rel),
                    base,
                })
            })
            .collect();
        V1 { dirs }
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.has(controller))
            .map(|d| d.path.as_path())
    }

    fn set(&self, controller: &str, file: &str, value: &str) -> Result<()> {
        match self.dir(controller) {
            Some(dir) => write(&dir.join(file), value),
            None => Ok(()),
        }
    }

    fn apply_memory(&self, resources: &LinuxResources) -> Result<()> {
        let Some(mem) = resources.memory() else {
            return Ok(());
        };
        if let Some(limit) = mem.limit() {
            self.set("memory", "memory.limit_in_bytes", &limit.to_string())?;
        }
        // memsw exists only with swap accounting; without it the limit above
        // is all the kernel can enforce.
        if let (Some(swap), Some(dir)) = (mem.swap(), self.dir("memory")) {
            let file = dir.join("memory.memsw.limit_in_bytes");
            if file.exists() {
                write(&file, &swap.to_string())?;
            }
        }
        Ok(())
    }

    fn apply_cpu(&self, resources: &LinuxResources) -> Result<()> {
        let Some(cpu) = resources.cpu() else {
            return Ok(());
        };
        if let Some(shares) = cpu.shares() {
            self.set("cpu", "cpu.shares", &shares.to_string())?;
        }
        if let Some(period) = cpu.period() {
            self.set("cpu", "cpu.cfs_period_us", &period.to_string())?;
        }
        if let Some(quota) = cpu.quota() {
            self.set("cpu", "cpu.cfs_quota_us", &quota.to_string())?;
        }
        Ok(())
    }

    /// The rules in order, each written on its own (the kernel takes one
    /// rule per write): Docker's list starts with a deny of everything.
    fn apply_devices(&self, resources: &LinuxResources) -> Result<()> {
        for rule in resources.devices().iter().flatten() {
            let Some(line) = device_rule(rule) else {
                continue;
            };
            let file = if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            self.set("devices", file, &line)?;
        }
        Ok(())
    }
}

/// The host directory of the hierarchy listing `names`: `cpu,cpuacct`
/// (or its `cpu` link), `systemd` for `name=systemd`; none for the v2 line.
fn mount_dir(root: &Path, names: &str) -> Option<PathBuf> {
    if names.is_empty() {
        return None;
    }
    let joined = root.join(names.trim_start_matches("name="));
    if joined.is_dir() {
        return Some(joined);
    }
    names.split(',').map(|n| root.join(n)).find(|p| p.is_dir())
}

/// `c 1:3 rwm` as devices.allow reads it; `None` for a FIFO, which the
/// device controller does not know.
fn device_rule(rule: &LinuxDeviceCgroup) -> Option<String> {
    let typ = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => return None,
    };
    let number = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = rule.access().as_deref().unwrap_or("rwm");
    Some(format!(
        "{typ} {}:{} {access}",
        number(rule.major()),
        number(rule.minor())
    ))
}

/// A new cpuset cgroup starts with no CPUs and no memory nodes, and
/// nothing can join it until it has some: each level created below the
/// caller's own gets its parent's (runc does the same).
fn init_cpuset(base: &Path, path: &Path) {
    let Ok(rel) = path.strip_prefix(base) else {
        return;
    };
    let mut dir = base.to_path_buf();
    for part in rel.components() {
        let parent = dir.clone();
        dir.push(part);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            if own.trim().is_empty() {
                if let Ok(value) = std::fs::read_to_string(parent.join(file)) {
                    let _ = std::fs::write(dir.join(file), value.trim());
                }
            }
        }
    }
}

impl Cgroup for V1 {
    fn create(&self) -> Result<()> {
        for d in &self.dirs {
            match mkdir(&d.path) {
                Err(e) if d.essential() => return Err(e),
                _ if d.has("cpuset") => init_cpuset(&d.base, &d.path),
                _ => {}
            }
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        self.apply_memory(resources)?;
        self.apply_cpu(resources)?;
        if let Some(pids) = resources.pids() {
            let value = match pids.limit() {
                n if n > 0 => n.to_string(),
                _ => "max".to_string(),
            };
            self.set("pids", "pids.max", &value)?;
        }
        self.apply_devices(resources)
    }

    /// Writes "0" to `tasks`, which moves only the calling thread (the
    /// caller is single-threaded, so that is the whole process). Writing
    /// `cgroup.procs` instead takes the kernel's cgroup_threadgroup_rwsem
    /// for writing, which waits out an RCU grace period whenever no other
    /// migration ran within the last one: about 10 ms on this machine, the
    /// largest part of a container's start. Recent kernels skip that lock
    /// when a thread moves itself.
    fn join(&self, pid: i32) -> Result<()> {
        // `tasks`, not `cgroup.procs`: moving a thread group waits out an
        // RCU grace period (8-15 ms here) that moving one thread does not.
        let pid = pid.to_string();
        for d in &self.dirs {
            match write(&d.path.join("tasks"), &pid) {
                Err(e) if d.essential() => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    fn oom_killed(&self) -> bool {
        self.dir("memory")
            .and_then(|d| std::fs::read_to_string(d.join("memory.oom_control")).ok())
            .and_then(|t| keyed_value(&t, "oom_kill"))
            .is_some_and(|n| n > 0)
    }

    fn remove(&self) -> Result<()> {
        self.dirs.iter().try_for_each(|d| rmdir(&d.path))
    }

    fn file(&self, controller: &str, file: &str) -> Option<PathBuf> {
        self.dir(controller).map(|d| d.join(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
        LinuxResourcesBuilder,
    };

    /// This machine's layout, with cpu and cpuacct combined as on Debian.
    const PROC_CGROUP: &str = "9:name=systemd:/\n8:pids:/\n5:devices:/\n4:memory:/outer\n2:cpu,cpuacct:/\n1:freezer:/\n0::/\n";

    fn fake_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for c in [
            "systemd",
            "pids",
            "devices",
            "memory",
            "cpu,cpuacct",
            "freezer",
        ] {
            std::fs::create_dir_all(root.path().join(c)).unwrap();
        }
        root
    }

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn every_mounted_hierarchy_gets_a_directory() {
        let root = fake_root();
        let cg = V1::new(root.path(), PROC_CGROUP, Path::new("kiln/c0"));
        cg.create().unwrap();
        for dir in [
            "systemd",
            "pids",
            "devices",
            "memory/outer",
            "cpu,cpuacct",
            "freezer",
        ] {
            assert!(root.path().join(dir).join("kiln/c0").is_dir(), "{dir}");
        }
        assert_eq!(
            cg.file("cpuacct", "cpuacct.usage").unwrap(),
            root.path().join("cpu,cpuacct/kiln/c0/cpuacct.usage")
        );
        cg.remove().unwrap();
        assert!(!root.path().join("memory/outer/kiln/c0").exists());
        cg.create().unwrap();
        cg.join(42).unwrap();
        assert_eq!(read(root.path().join("pids/kiln/c0/tasks")), "42");
    }

    #[test]
    fn only_essential_hierarchies_must_work() {
        let root = fake_root();
        std::fs::create_dir_all(root.path().join("blkio")).unwrap();
        // a file where the container's parent directory should go
        std::fs::write(root.path().join("blkio/kiln"), "").unwrap();
        let text = format!("{PROC_CGROUP}7:blkio:/\n");
        let cg = V1::new(root.path(), &text, Path::new("kiln/c1"));
        cg.create().unwrap();
        cg.join(42).unwrap();
        std::fs::write(root.path().join("pids/kiln2"), "").unwrap();
        let cg = V1::new(root.path(), &text, Path::new("kiln2/c1"));
        assert!(cg.create().is_err());
    }

    #[test]
    fn writes_docker_style_limits() {
        let root = fake_root();
        let cg = V1::new(root.path(), PROC_CGROUP, Path::new("kiln/c1"));
        cg.create().unwrap();
        std::fs::write(
            cg.file("memory", "memory.memsw.limit_in_bytes").unwrap(),
            "",
        )
        .unwrap();
        let res = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(33554432)
                    .swap(67108864)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(50000)
                    .period(100000u64)
                    .shares(512u64)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(50).build().unwrap())
            .devices(vec![LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap()])
            .build()
            .unwrap();
        cg.apply(&res).unwrap();
        let mem = root.path().join("memory/outer/kiln/c1");
        assert_eq!(read(mem.join("memory.limit_in_bytes")), "33554432");
        assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "67108864");
        assert_eq!(read(cg.file("cpu", "cpu.cfs_quota_us").unwrap()), "50000");
        assert_eq!(read(cg.file("cpu", "cpu.cfs_period_us").unwrap()), "100000");
        assert_eq!(read(cg.file("cpu", "cpu.shares").unwrap()), "512");
        assert_eq!(read(cg.file("pids", "pids.max").unwrap()), "50");
        assert_eq!(
            read(cg.file("devices", "devices.deny").unwrap()),
            "a *:* rwm"
        );
    }

    #[test]
    fn device_rules_read_as_the_kernel_expects() {
        let rule = |typ, major, minor: Option<i64>, access: &str| {
            device_rule(&crate::testkit::device_rule(
                true, typ, major, minor, access,
            ))
        };
        let c = LinuxDeviceType::C;
        assert_eq!(rule(c, Some(1), Some(3), "rwm").unwrap(), "c 1:3 rwm");
        assert_eq!(rule(c, Some(136), None, "rwm").unwrap(), "c 136:* rwm");
        assert_eq!(
            rule(LinuxDeviceType::B, None, None, "m").unwrap(),
            "b *:* m"
        );
        assert_eq!(rule(LinuxDeviceType::P, None, None, "rwm"), None);
    }

    #[test]
    fn new_cpusets_inherit_cpus_and_nodes() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("cpuset");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("cpuset.cpus"), "0-1\n").unwrap();
        std::fs::write(base.join("cpuset.mems"), "0\n").unwrap();
        let cg = V1::new(root.path(), "3:cpuset:/\n", Path::new("kiln/c3"));
        cg.create().unwrap();
        assert_eq!(read(base.join("kiln/cpuset.cpus")), "0-1");
        assert_eq!(read(base.join("kiln/c3/cpuset.mems")), "0");
    }

    #[test]
    fn reports_oom_from_oom_control() {
        let root = fake_root();
        let cg = V1::new(root.path(), PROC_CGROUP, Path::new("kiln/c2"));
        cg.create().unwrap();
        let f = cg.file("memory", "memory.oom_control").unwrap();
        std::fs::write(&f, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n").unwrap();
        assert!(!cg.oom_killed());
        std::fs::write(&f, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n").unwrap();
        assert!(cg.oom_killed());
    }
}
