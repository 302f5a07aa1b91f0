//! cgroup v2: one unified tree with `memory.max`, `cpu.max`, `pids.max`,
//! and the device allow-list as an eBPF program.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{device_filter, keyed_value, mkdir, rmdir, write, Cgroup, Error, Result};

#[derive(Debug)]
pub struct V2 {
    dir: PathBuf,
    parent: PathBuf,
}

impl V2 {
    pub fn new(root: &Path, proc_self_cgroup: &str, rel: &Path) -> V2 {
        let own = proc_self_cgroup
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/")
            .trim_start_matches('/');
        let parent = root.join(own);
        V2 {
            dir: parent.join(rel),
            parent,
        }
    }

    /// Delegates the controllers to children of every directory from the
    /// caller's cgroup down to the container's parent; v2 allows limits only
    /// where the parent's `cgroup.subtree_control` enables the controller.
    fn enable_controllers(&self) -> Result<()> {
        let Ok(rel) = self.dir.strip_prefix(&self.parent) else {
            return Ok(());
        };
        let mut dir = self.parent.clone();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            let _ = write(&dir.join("cgroup.subtree_control"), "+memory +pids +cpu");
            dir.push(part);
        }
        let _ = write(&dir.join("cgroup.subtree_control"), "+memory +pids +cpu");
        Ok(())
    }
}

/// Docker's conversion of v1 cpu shares (2..262144) to v2 weight (1..10000).
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

impl Cgroup for V2 {
    fn create(&self) -> Result<()> {
        if let Some(parent) = self.dir.parent() {
            mkdir(parent)?;
        }
        self.enable_controllers()?;
        mkdir(&self.dir)
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let set = |file: &str, value: String| write(&self.dir.join(file), &value);
        if let Some(mem) = resources.memory() {
            if let Some(limit) = mem.limit() {
                set("memory.max", limit.to_string())?;
                // OCI's swap is memory+swap; v2's swap.max is swap alone.
                if let Some(swap) = mem.swap() {
                    let v = if swap < 0 {
                        "max".to_string()
                    } else {
                        (swap - limit).max(0).to_string()
                    };
                    set("memory.swap.max", v)?;
                }
            }
        }
        if let Some(cpu) = resources.cpu() {
            if let Some(shares) = cpu.shares() {
                set("cpu.weight", shares_to_weight(shares).to_string())?;
            }
            if let Some(quota) = cpu.quota() {
                let period = cpu.period().unwrap_or(100_000);
                let q = if quota > 0 {
                    quota.to_string()
                } else {
                    "max".to_string()
                };
                set("cpu.max", format!("{q} {period}"))?;
            }
        }
        if let Some(pids) = resources.pids() {
            let v = if pids.limit() > 0 {
                pids.limit().to_string()
            } else {
                "max".to_string()
            };
            set("pids.max", v)?;
        }
        if let Some(devices) = resources.devices() {
            device_filter::attach(&self.dir, devices).map_err(|source| Error::DeviceFilter {
                path: self.dir.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn join(&self, pid: i32) -> Result<()> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    fn oom_killed(&self) -> bool {
        std::fs::read_to_string(self.dir.join("memory.events"))
            .ok()
            .and_then(|t| keyed_value(&t, "oom_kill"))
            .is_some_and(|n| n > 0)
    }

    fn remove(&self) -> Result<()> {
        rmdir(&self.dir)
    }

    fn file(&self, _controller: &str, file: &str) -> Option<PathBuf> {
        Some(self.dir.join(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};

    #[test]
    fn apply_attaches_the_device_list() {
        if !crate::testkit::privileged() {
            return;
        }
        use crate::cgroups::device_filter::tests::{cgroup2_mount, docker_rules};
        use std::io::Write;
        // On a hybrid host the cgroup2 mount has no controllers, but
        // device programs work there as on a v2 host.
        let mount = cgroup2_mount().expect("no cgroup2 mount");
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let rel = format!("kiln-v2-test-{}", std::process::id());
        let cg = V2::new(&mount, &own, Path::new(&rel));
        cg.create().unwrap();
        let res = LinuxResourcesBuilder::default()
            .devices(docker_rules(false))
            .build()
            .unwrap();
        cg.apply(&res).unwrap();
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "read go; ( : < /dev/kmsg ) 2>/dev/null || echo denied",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        cg.join(child.id() as i32).unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let out = child.wait_with_output().unwrap();
        cg.remove().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "denied\n");
    }

    #[test]
    fn weight_follows_docker_conversion() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
    }

    #[test]
    fn writes_unified_limits() {
        let root = tempfile::tempdir().unwrap();
        let cg = V2::new(root.path(), "0::/\n", Path::new("kiln/c"));
        cg.create().unwrap();
        let res = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .swap(128 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(50000)
                    .period(100000u64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        cg.apply(&res).unwrap();
        let read = |f: &str| std::fs::read_to_string(root.path().join("kiln/c").join(f)).unwrap();
        assert_eq!(read("memory.max"), "67108864");
        assert_eq!(read("memory.swap.max"), "67108864");
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(
            std::fs::read_to_string(root.path().join("kiln/cgroup.subtree_control")).unwrap(),
            "+memory +pids +cpu"
        );
    }
}
