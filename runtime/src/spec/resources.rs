//! Resource limits in the spec: memory, CPU and pids as Docker's flags
//! set them, the device cgroup's rules, and what a rootless kiln must
//! refuse for want of a cgroup of its own.

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use super::{build_err, devices, Config, Error};

impl Config {
    /// Refuses what a rootless kiln cannot give: limits need a cgroup of
    /// their own, devices need mknod on the host.
    pub(super) fn refuse_rootless(&self) -> Result<(), Error> {
        let l = &self.limits;
        let asked = [
            (l.memory.is_some(), "--memory"),
            (l.memory_swap.is_some(), "--memory-swap"),
            (l.cpus.is_some(), "--cpus"),
            (l.cpu_shares.is_some(), "--cpu-shares"),
            (l.pids_limit.is_some(), "--pids-limit"),
        ];
        if let Some((_, flag)) = asked.iter().find(|(set, _)| *set) {
            return Err(Error::RootlessCgroup { flag });
        }
        match self.devices.is_empty() {
            true => Ok(()),
            false => Err(Error::RootlessDevice),
        }
    }

    pub(super) fn resources(&self) -> Result<LinuxResources, Error> {
        let l = &self.limits;
        let mut res = LinuxResourcesBuilder::default();
        if let Some(memory) = l.memory {
            // Docker: without --memory-swap, swap may equal the memory limit.
            let swap = l.memory_swap.unwrap_or(memory.saturating_mul(2));
            let mem = LinuxMemoryBuilder::default().limit(memory).swap(swap);
            res = res.memory(mem.build().map_err(build_err)?);
        }
        if l.cpus.is_some() || l.cpu_shares.is_some() {
            let mut cpu = LinuxCpuBuilder::default();
            if let Some(cpus) = l.cpus {
                cpu = cpu
                    .quota((cpus * 100_000.0).round() as i64)
                    .period(100_000u64);
            }
            if let Some(shares) = l.cpu_shares {
                cpu = cpu.shares(shares);
            }
            res = res.cpu(cpu.build().map_err(build_err)?);
        }
        if let Some(pids) = l.pids_limit {
            res = res.pids(
                LinuxPidsBuilder::default()
                    .limit(pids)
                    .build()
                    .map_err(build_err)?,
            );
        }
        let rules = devices::cgroup_rules(self.privileged, &self.devices)?;
        res = res.devices(rules);
        res.build().map_err(build_err)
    }
}

/// `-m 64m`, `1g`, `512k`, `100` (bytes), as Docker parses memory sizes.
pub fn parse_bytes(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1i64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let value: f64 = num.parse().ok()?;
    // `inf`, `1e30g`: no size, rather than a saturated one.
    let bytes = value * mult as f64;
    (value >= 0.0 && bytes < i64::MAX as f64).then_some(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_bytes("64m"), Some(64 << 20));
        assert_eq!(parse_bytes("1G"), Some(1 << 30));
        assert_eq!(parse_bytes("512kb"), Some(512 << 10));
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("lots"), None);
    }

    #[test]
    fn sizes_past_the_range_are_no_sizes() {
        assert_eq!(parse_bytes("1.5k"), Some(1536));
        for bad in ["inf", "nan", "-1", "99999999999999999999g", "1e300", "lots"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }
}
