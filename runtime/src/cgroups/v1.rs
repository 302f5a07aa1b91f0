//! cgroup v1: one hierarchy per controller (`/sys/fs/cgroup/memory`, …).

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{keyed_value, mkdir, rmdir, write, Cgroup, Result};

/// The controllers kiln places every container in: memory (limits and OOM
/// reports), pids (fork bombs), cpu (quota, shares) and freezer (`pause`).
const CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "freezer"];

#[derive(Debug)]
pub struct V1 {
    /// (controller, the container's directory in that hierarchy)
    dirs: Vec<(&'static str, PathBuf)>,
}

impl V1 {
    /// `proc_self_cgroup` is the text of `/proc/self/cgroup`, which gives the
    /// caller's own place in each hierarchy.
    pub fn new(root: &Path, proc_self_cgroup: &str, rel: &Path) -> V1 {
        let dirs = CONTROLLERS
            .iter()
            .map(|c| {
                let own = own_path(proc_self_cgroup, c);
                (*c, root.join(c).join(own).join(rel))
            })
            .filter(|(c, _)| root.join(c).exists())
            .collect();
        V1 { dirs }
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| *c == controller)
            .map(|(_, d)| d.as_path())
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
}

/// The caller's path in the hierarchy of `controller`, without the leading
/// `/`; the line's controller field may list several (`cpu,cpuacct`).
fn own_path(proc_self_cgroup: &str, controller: &str) -> PathBuf {
    proc_self_cgroup
        .lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            names
                .split(',')
                .any(|n| n == controller)
                .then(|| PathBuf::from(path.trim_start_matches('/')))
        })
        .unwrap_or_default()
}

impl Cgroup for V1 {
    fn create(&self) -> Result<()> {
        self.dirs.iter().try_for_each(|(_, d)| mkdir(d))
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
        Ok(())
    }

    fn join_self(&self) -> Result<()> {
        self.dirs
            .iter()
            .try_for_each(|(_, d)| write(&d.join("cgroup.procs"), "0"))
    }

    fn oom_killed(&self) -> bool {
        self.dir("memory")
            .and_then(|d| std::fs::read_to_string(d.join("memory.oom_control")).ok())
            .and_then(|t| keyed_value(&t, "oom_kill"))
            .is_some_and(|n| n > 0)
    }

    fn remove(&self) -> Result<()> {
        self.dirs.iter().try_for_each(|(_, d)| rmdir(d))
    }

    fn file(&self, controller: &str, file: &str) -> Option<PathBuf> {
        self.dir(controller).map(|d| d.join(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    fn fake_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for c in CONTROLLERS {
            std::fs::create_dir_all(root.path().join(c)).unwrap();
        }
        root
    }

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn own_path_reads_combined_controllers() {
        let text = "2:cpu,cpuacct:/a/b\n4:memory:/m\n0::/\n";
        assert_eq!(own_path(text, "cpu"), PathBuf::from("a/b"));
        assert_eq!(own_path(text, "memory"), PathBuf::from("m"));
        assert_eq!(own_path(text, "pids"), PathBuf::new());
    }

    #[test]
    fn writes_docker_style_limits() {
        let root = fake_root();
        let cg = V1::new(root.path(), "4:memory:/outer\n", Path::new("kiln/c1"));
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
    }

    #[test]
    fn reports_oom_from_oom_control() {
        let root = fake_root();
        let cg = V1::new(root.path(), "", Path::new("kiln/c2"));
        cg.create().unwrap();
        let f = cg.file("memory", "memory.oom_control").unwrap();
        std::fs::write(&f, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n").unwrap();
        assert!(!cg.oom_killed());
        std::fs::write(&f, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n").unwrap();
        assert!(cg.oom_killed());
    }
}
