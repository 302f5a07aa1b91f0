//! `docker stats`: what each container uses, from its cgroups (CPU,
//! memory, processes, block IO) and its network namespace (bytes in and
//! out). A [`Sample`] is one reading; CPU % needs two, so a [`Row`] is
//! made from a sample and the one before it.

use std::path::Path;

use kiln_runtime::cgroups::{self, stats::Usage};
use kiln_runtime::container::state::{Container, Status};

use crate::{Engine, Error};

/// One reading of one container (all zeros for one that is not running).
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub id: String,
    pub name: String,
    /// Whether it was running (or paused) when read.
    pub running: bool,
    pub usage: Usage,
    pub net_rx: u64,
    pub net_tx: u64,
    /// The host's CPU time so far (all CPUs), in nanoseconds.
    pub system_ns: u64,
    pub online_cpus: u32,
    /// The host's memory: the limit shown for an unlimited container.
    pub mem_total: u64,
}

/// What `stats` shows of a container between two samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub cpu_percent: f64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub mem_percent: f64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

impl Engine {
    /// The containers `stats` shows: those named (each must exist), else
    /// the running ones (every one with `all`), oldest first as Docker
    /// lists them.
    pub fn stats_targets(&self, names: &[String], all: bool) -> Result<Vec<Container>, Error> {
        if !names.is_empty() {
            return names.iter().map(|n| self.container(n)).collect();
        }
        let mut list = self.containers().list()?;
        if !all {
            list.retain(|c| matches!(c.state.status, Status::Running | Status::Paused));
        }
        list.reverse();
        Ok(list)
    }
}

/// Reads `c`'s counters now.
pub fn sample(c: &Container) -> Sample {
    let (system_ns, online_cpus) = host_cpu().unwrap_or_default();
    let mut s = Sample {
        id: c.record.id.clone(),
        name: c.record.name.clone(),
        system_ns,
        online_cpus,
        mem_total: host_memory().unwrap_or(0),
        ..Sample::default()
    };
    s.running = matches!(c.state.status, Status::Running | Status::Paused) && c.state.pid > 0;
    if !s.running {
        return s;
    }
    let rel = format!("kiln/{}", c.record.id);
    if let Ok(cg) = cgroups::open_of_process(c.state.pid, Path::new(&rel)) {
        s.usage = cgroups::stats::usage(cg.as_ref());
    }
    let net = std::fs::read_to_string(format!("/proc/{}/net/dev", c.state.pid));
    (s.net_rx, s.net_tx) = net.map_or((0, 0), |t| net_bytes(&t));
    s
}

/// Docker's figures from two samples of one container; all zeros (a
/// limit of 0B too) for one that is not running, as Docker shows it.
pub fn row(before: &Sample, now: &Sample) -> Row {
    let limit = match now.usage.memory_limit {
        _ if !now.running => 0,
        Some(l) if now.mem_total == 0 || l < now.mem_total => l,
        _ => now.mem_total,
    };
    let mem_usage = now.usage.memory;
    Row {
        id: now.id.clone(),
        name: now.name.clone(),
        cpu_percent: cpu_percent(before, now),
        mem_usage,
        mem_limit: limit,
        mem_percent: percent(mem_usage as f64, limit as f64),
        net_rx: now.net_rx,
        net_tx: now.net_tx,
        block_read: now.usage.block_read,
        block_write: now.usage.block_write,
        pids: now.usage.pids,
    }
}

/// Docker's CPU %: the container's share of the host's CPU time between
/// the samples, times the CPUs (so one busy CPU of four is 100%).
fn cpu_percent(before: &Sample, now: &Sample) -> f64 {
    let cpu = now.usage.cpu_ns.saturating_sub(before.usage.cpu_ns) as f64;
    let system = now.system_ns.saturating_sub(before.system_ns) as f64;
    if cpu <= 0.0 || system <= 0.0 {
        return 0.0;
    }
    cpu / system * f64::from(now.online_cpus) * 100.0
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}

/// The host's CPU time from /proc/stat's `cpu` line (user through
/// softirq, as Docker adds them) in nanoseconds, and the CPUs it lists.
fn host_cpu() -> Option<(u64, u32)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    proc_stat(&text, clock_ticks())
}

fn proc_stat(text: &str, ticks_per_second: u64) -> Option<(u64, u32)> {
    let total = text.lines().find(|l| l.starts_with("cpu "))?;
    let jiffies: u64 = total
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|w| w.parse::<u64>().ok())
        .sum();
    let cpus = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    let ns = jiffies.saturating_mul(1_000_000_000) / ticks_per_second.max(1);
    Some((ns, u32::try_from(cpus).unwrap_or(u32::MAX)))
}

fn clock_ticks() -> u64 {
    use nix::unistd::{sysconf, SysconfVar};
    let ticks = sysconf(SysconfVar::CLK_TCK).ok().flatten();
    ticks
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()?
        .checked_mul(1024)
}

/// Bytes received and sent over every interface but loopback, from the
/// namespace's /proc/net/dev.
fn net_bytes(text: &str) -> (u64, u64) {
    let mut sums = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let fields: Vec<u64> = counters
            .split_whitespace()
            .map(|w| w.parse().unwrap_or(0))
            .collect();
        if let (Some(rx), Some(tx)) = (fields.first(), fields.get(8)) {
            sums.0 = sums.0.saturating_add(*rx);
            sums.1 = sums.1.saturating_add(*tx);
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_cpu_time_adds_seven_fields() {
        let text = "cpu  10 0 10 70 5 3 2 100 0 0\ncpu0 5 0 5 35 0 0 0 0 0 0\ncpu1 5 0 5 35 0 0 0 0 0 0\nintr 1\n";
        assert_eq!(proc_stat(text, 100), Some((1_000_000_000, 2)));
    }

    #[test]
    fn loopback_is_not_counted() {
        let text = "Inter-|   Receive   |  Transmit\n face |bytes packets|bytes\n    lo: 500 5 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n  eth0: 1200 10 0 0 0 0 0 0 648 8 0 0 0 0 0 0\n";
        assert_eq!(net_bytes(text), (1200, 648));
    }

    #[test]
    fn cpu_percent_is_the_share_times_the_cpus() {
        let at = |cpu_ns, system_ns| Sample {
            usage: Usage {
                cpu_ns,
                ..Usage::default()
            },
            system_ns,
            online_cpus: 4,
            running: true,
            ..Sample::default()
        };
        let r = row(&at(0, 0), &at(250, 1000));
        assert!((r.cpu_percent - 100.0).abs() < 1e-9, "{}", r.cpu_percent);
        assert_eq!(row(&at(5, 5), &at(5, 5)).cpu_percent, 0.0);
    }

    #[test]
    fn an_unlimited_container_is_limited_by_the_host() {
        let s = Sample {
            usage: Usage {
                memory: 512,
                memory_limit: None,
                pids: 1,
                ..Usage::default()
            },
            online_cpus: 1,
            running: true,
            mem_total: 2048,
            ..Sample::default()
        };
        let r = row(&s, &s);
        assert_eq!((r.mem_usage, r.mem_limit), (512, 2048));
        assert!((r.mem_percent - 25.0).abs() < 1e-9);
        let limited = Sample {
            usage: Usage {
                memory_limit: Some(1024),
                ..s.usage
            },
            ..s.clone()
        };
        assert_eq!(row(&limited, &limited).mem_limit, 1024);
        let stopped = Sample {
            running: false,
            usage: Usage::default(),
            ..s
        };
        assert_eq!(row(&stopped, &stopped).mem_limit, 0);
    }
}
