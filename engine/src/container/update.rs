//! `docker update`: new resource limits and restart policy for an existing
//! container. A running one gets them in its cgroups at once; every one
//! keeps them in its record, so `inspect` shows them and the next start
//! (by hand or by the restart policy) applies them again.

use std::path::Path;

use kiln_runtime::cgroups;
use kiln_runtime::container::restart::RestartPolicy;
use kiln_runtime::container::state::{Container, Status};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::limits::{bytes, MIN_MEMORY};
use crate::{Engine, Error};

/// Docker's smallest memory limit.
/// The CFS period `--cpus` is expressed in (Docker's).
const CPU_PERIOD: u64 = 100_000;

/// What to change, in Docker's syntax; `None` leaves it as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    /// `0` or `-1` for no limit.
    pub pids_limit: Option<i64>,
    pub restart: Option<String>,
}

impl UpdateOptions {
    /// Checks the values alone (before any container is looked at).
    pub fn check(&self) -> Result<(), Error> {
        read(self).map(|_| ())
    }

    /// Whether nothing was asked for (Docker refuses that).
    pub fn is_empty(&self) -> bool {
        self.memory.is_none()
            && self.memory_swap.is_none()
            && self.cpus.is_none()
            && self.cpu_shares.is_none()
            && self.pids_limit.is_none()
            && self.restart.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("you must provide one or more flags when using this command")]
    NothingToUpdate,
    #[error("Minimum memory limit allowed is 6MB")]
    MemoryTooSmall,
    #[error("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")]
    MemoryAboveSwap,
    #[error("Minimum memoryswap limit should be larger than memory limit, see usage")]
    SwapBelowMemory,
    #[error("Restart policy cannot be updated because AutoRemove is enabled for the container")]
    RestartWithAutoRemove,
    #[error("updating the cgroup of {id}")]
    Cgroup { id: String, source: cgroups::Error },
}

/// The limits as `inspect`'s HostConfig names them (0 for none, as
/// Docker shows them; `PidsLimit` null).
pub(super) fn host_config_limits(spec: &oci_spec::runtime::Spec) -> serde_json::Value {
    let r = resources_of(spec);
    let positive = |v: Option<i64>| v.filter(|&v| v > 0).unwrap_or(0);
    let memory = r.memory().as_ref();
    let cpu = r.cpu().as_ref();
    let nano_cpus = match (cpu.and_then(|c| c.quota()), cpu.and_then(|c| c.period())) {
        (Some(q), Some(p)) if q > 0 && p > 0 => q.saturating_mul(1_000_000_000) / p as i64,
        _ => 0,
    };
    serde_json::json!({
        "Memory": positive(memory.and_then(|m| m.limit())),
        "MemorySwap": memory.and_then(|m| m.swap()).unwrap_or(0),
        "NanoCpus": nano_cpus,
        "CpuShares": cpu.and_then(|c| c.shares()).unwrap_or(0),
        "PidsLimit": r.pids().as_ref().map(|p| p.limit()).filter(|&l| l > 0),
    })
}

/// The values once read and checked.
#[derive(Debug, Clone, Default, PartialEq)]
struct Change {
    memory: Option<i64>,
    memory_swap: Option<i64>,
    cpus: Option<f64>,
    cpu_shares: Option<u64>,
    pids_limit: Option<i64>,
    restart: Option<RestartPolicy>,
}

impl Engine {
    /// Changes `key`'s limits (in its cgroups too when it runs) and
    /// restart policy, and keeps them in its record.
    pub fn update(&self, key: &str, opts: &UpdateOptions) -> Result<(), Error> {
        let change = read(opts)?;
        let c = self.container(key)?;
        let mut record = c.record.clone();
        let resources = resources_of(&record.spec);
        let new = changed(&resources, &change)?;
        if let Some(policy) = &change.restart {
            if record.auto_remove && *policy != RestartPolicy::No {
                return Err(UpdateError::RestartWithAutoRemove.into());
            }
            record.restart = policy.clone();
        }
        apply_live(&c, &resources, &new)?;
        if let Some(linux) = record.spec.linux_mut() {
            linux.set_resources(Some(new));
        }
        Ok(self.containers().replace_record(record)?)
    }
}

/// Docker's checks of the values alone.
fn read(opts: &UpdateOptions) -> Result<Change, Error> {
    if opts.is_empty() {
        return Err(UpdateError::NothingToUpdate.into());
    }
    let memory = bytes("--memory", &opts.memory)?;
    if memory.is_some_and(|m| m > 0 && m < MIN_MEMORY) {
        return Err(UpdateError::MemoryTooSmall.into());
    }
    if let Some(c) = opts.cpus {
        if !c.is_finite() || c <= 0.0 {
            return Err(Error::BadCpus(c));
        }
    }
    let restart = opts
        .restart
        .as_deref()
        .map(RestartPolicy::parse)
        .transpose()?;
    Ok(Change {
        memory,
        memory_swap: bytes("--memory-swap", &opts.memory_swap)?,
        cpus: opts.cpus,
        cpu_shares: opts.cpu_shares,
        pids_limit: opts.pids_limit,
        restart,
    })
}

fn resources_of(spec: &oci_spec::runtime::Spec) -> LinuxResources {
    spec.linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default()
}

/// `old` with the change made; the memory rules checked against what the
/// container already has, as Docker's daemon checks them.
fn changed(old: &LinuxResources, change: &Change) -> Result<LinuxResources, Error> {
    let mut new = old.clone();
    let memory = memory(old.memory().as_ref(), change)?;
    new.set_memory(memory);
    if change.cpus.is_some() || change.cpu_shares.is_some() {
        let mut cpu: LinuxCpu = old.cpu().clone().unwrap_or_default();
        if let Some(cpus) = change.cpus {
            cpu.set_quota(Some((cpus * CPU_PERIOD as f64).round() as i64));
            cpu.set_period(Some(CPU_PERIOD));
        }
        if let Some(shares) = change.cpu_shares {
            cpu.set_shares(Some(shares));
        }
        new.set_cpu(Some(cpu));
    }
    if let Some(limit) = change.pids_limit {
        let mut pids = LinuxPids::default();
        // The runtime writes "max" for anything below 1.
        pids.set_limit(if limit > 0 { limit } else { -1 });
        new.set_pids(Some(pids));
    }
    Ok(new)
}

fn memory(old: Option<&LinuxMemory>, change: &Change) -> Result<Option<LinuxMemory>, Error> {
    if change.memory.is_none() && change.memory_swap.is_none() {
        return Ok(old.cloned());
    }
    let old_limit = old.and_then(|m| m.limit()).filter(|&l| l > 0);
    let old_swap = old.and_then(|m| m.swap());
    let limit = change.memory.or(old_limit);
    let Some(limit) = limit.filter(|&l| l > 0) else {
        if change.memory_swap.is_some_and(|s| s != -1) {
            return Err(Error::SwapWithoutMemory);
        }
        // No limit asked for: memory and swap unlimited.
        let mut m = old.cloned().unwrap_or_default();
        m.set_limit(Some(-1));
        m.set_swap(Some(-1));
        return Ok(Some(m));
    };
    let swap = match change.memory_swap {
        Some(s) => Some(s),
        None => match old_swap {
            Some(s) if s > 0 && limit > s => return Err(UpdateError::MemoryAboveSwap.into()),
            other => other,
        },
    };
    if swap.is_some_and(|s| s > 0 && s < limit) {
        return Err(UpdateError::SwapBelowMemory.into());
    }
    let mut m = old.cloned().unwrap_or_default();
    m.set_limit(Some(limit));
    m.set_swap(swap);
    Ok(Some(m))
}

/// Writes the new limits into a running container's cgroups. The kernel
/// refuses a memory limit above the memory+swap limit, so when the limit
/// grows the swap limit is written first.
fn apply_live(c: &Container, old: &LinuxResources, new: &LinuxResources) -> Result<(), Error> {
    let running = matches!(c.state.status, Status::Running | Status::Paused);
    if !running || c.state.pid <= 0 {
        return Ok(());
    }
    let rel = format!("kiln/{}", c.record.id);
    let failed = |source| UpdateError::Cgroup {
        id: c.record.id.clone(),
        source,
    };
    let cg = cgroups::open_of_process(c.state.pid, Path::new(&rel)).map_err(failed)?;
    let limit = |r: &LinuxResources| match r.memory().and_then(|m| m.limit()) {
        Some(l) if l > 0 => l,
        _ => i64::MAX,
    };
    for part in memory_writes(new.memory().as_ref(), limit(new) > limit(old)) {
        cg.apply(&part).map_err(failed)?;
    }
    // Devices stay out: rewriting the allow-list would deny every device
    // for a moment.
    let mut rest = LinuxResources::default();
    rest.set_cpu(new.cpu().clone());
    rest.set_pids(*new.pids());
    cg.apply(&rest).map_err(failed)?;
    Ok(())
}

/// The memory limit and the swap limit as two writes, in the order the
/// kernel accepts them.
fn memory_writes(memory: Option<&LinuxMemory>, grows: bool) -> Vec<LinuxResources> {
    let Some(m) = memory else {
        return Vec::new();
    };
    let only = |limit: Option<i64>, swap: Option<i64>| {
        let mut mem = LinuxMemory::default();
        mem.set_limit(limit);
        mem.set_swap(swap);
        let mut r = LinuxResources::default();
        r.set_memory(Some(mem));
        r
    };
    let (limit, swap) = (only(m.limit(), None), only(None, m.swap()));
    if grows {
        vec![swap, limit]
    } else {
        vec![limit, swap]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_memory(limit: i64, swap: i64) -> LinuxResources {
        let mut r = LinuxResources::default();
        let mut m = LinuxMemory::default();
        m.set_limit(Some(limit));
        m.set_swap(Some(swap));
        r.set_memory(Some(m));
        r
    }

    fn change(memory: Option<&str>, swap: Option<&str>) -> Result<Change, Error> {
        read(&UpdateOptions {
            memory: memory.map(Into::into),
            memory_swap: swap.map(Into::into),
            ..UpdateOptions::default()
        })
    }

    #[test]
    fn nothing_asked_is_refused() {
        let err = read(&UpdateOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "you must provide one or more flags when using this command"
        );
    }

    #[test]
    fn values_are_checked_as_docker_checks_them() {
        assert!(matches!(
            change(Some("1m"), None),
            Err(Error::Update(UpdateError::MemoryTooSmall))
        ));
        let err = change(Some("lots"), None).unwrap_err();
        assert_eq!(err.to_string(), "invalid --memory value \"lots\"");
        let bad_cpus = read(&UpdateOptions {
            cpus: Some(0.0),
            ..UpdateOptions::default()
        });
        assert!(matches!(bad_cpus, Err(Error::BadCpus(_))));
    }

    #[test]
    fn memory_above_the_old_swap_needs_a_new_swap() {
        let old = with_memory(64 << 20, 128 << 20);
        let c = change(Some("256m"), None).unwrap();
        assert!(matches!(
            changed(&old, &c),
            Err(Error::Update(UpdateError::MemoryAboveSwap))
        ));
        let c = change(Some("256m"), Some("512m")).unwrap();
        let m = changed(&old, &c).unwrap().memory().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(256 << 20), Some(512 << 20)));
        let c = change(Some("96m"), None).unwrap();
        let m = changed(&old, &c).unwrap().memory().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(96 << 20), Some(128 << 20)));
        let c = change(Some("96m"), Some("64m")).unwrap();
        assert!(matches!(
            changed(&old, &c),
            Err(Error::Update(UpdateError::SwapBelowMemory))
        ));
    }

    #[test]
    fn swap_alone_needs_a_memory_limit() {
        let c = change(None, Some("1g")).unwrap();
        assert!(matches!(
            changed(&LinuxResources::default(), &c),
            Err(Error::SwapWithoutMemory)
        ));
        let m = changed(&with_memory(64 << 20, 128 << 20), &c).unwrap();
        assert_eq!(m.memory().unwrap().swap(), Some(1 << 30));
    }

    #[test]
    fn cpus_shares_and_pids_are_set() {
        let c = read(&UpdateOptions {
            cpus: Some(1.5),
            cpu_shares: Some(512),
            pids_limit: Some(0),
            ..UpdateOptions::default()
        })
        .unwrap();
        let r = changed(&LinuxResources::default(), &c).unwrap();
        let cpu = r.cpu().clone().unwrap();
        assert_eq!(
            (cpu.quota(), cpu.period(), cpu.shares()),
            (Some(150_000), Some(100_000), Some(512))
        );
        assert_eq!(r.pids().unwrap().limit(), -1);
    }

    #[test]
    fn inspect_names_the_limits_as_docker_does() {
        let mut spec = oci_spec::runtime::Spec::default();
        let mut r = with_memory(64 << 20, 128 << 20);
        let c = read(&UpdateOptions {
            cpus: Some(0.5),
            pids_limit: Some(50),
            ..UpdateOptions::default()
        })
        .unwrap();
        r = changed(&r, &c).unwrap();
        if let Some(linux) = spec.linux_mut() {
            linux.set_resources(Some(r));
        }
        let v = host_config_limits(&spec);
        assert_eq!(v["Memory"], 64 << 20);
        assert_eq!(v["MemorySwap"], 128 << 20);
        assert_eq!(v["NanoCpus"], 500_000_000);
        assert_eq!(v["PidsLimit"], 50);
        let none = host_config_limits(&oci_spec::runtime::Spec::default());
        assert_eq!(none["Memory"], 0);
        assert!(none["PidsLimit"].is_null());
    }

    #[test]
    fn a_growing_limit_writes_swap_first() {
        let m = *with_memory(256 << 20, 512 << 20).memory();
        let writes = memory_writes(m.as_ref(), true);
        assert_eq!(writes[0].memory().unwrap().swap(), Some(512 << 20));
        assert_eq!(writes[0].memory().unwrap().limit(), None);
        let writes = memory_writes(m.as_ref(), false);
        assert_eq!(writes[0].memory().unwrap().limit(), Some(256 << 20));
    }
}
