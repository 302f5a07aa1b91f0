//! What a cgroup's processes use, read from its accounting files: CPU
//! time, memory, processes and block IO, on v1 and v2 alike (`docker
//! stats`'s figures). A file that cannot be read counts as zero: a
//! hierarchy may be missing, or the container may be ending.

use std::path::Path;

use super::{keyed_value, Cgroup};

/// One reading of a cgroup's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// CPU time of all its processes so far, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use less the page cache the kernel can drop (inactive
    /// files), as Docker's CLI counts it.
    pub memory: u64,
    /// The memory limit; `None` when unlimited.
    pub memory_limit: Option<u64>,
    pub pids: u64,
    pub block_read: u64,
    pub block_write: u64,
}

/// Reads `cg`'s counters (v1 when it has `cpuacct.usage`, else v2).
pub fn usage(cg: &dyn Cgroup) -> Usage {
    let text = |controller: &str, file: &str| {
        cg.file(controller, file)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let v1 = cg
        .file("cpuacct", "cpuacct.usage")
        .is_some_and(|p| Path::new(&p).exists());
    if v1 {
        let (block_read, block_write) =
            v1_block(&text("blkio", "blkio.throttle.io_service_bytes_recursive"));
        Usage {
            cpu_ns: number(&text("cpuacct", "cpuacct.usage")),
            memory: less_cache(
                number(&text("memory", "memory.usage_in_bytes")),
                keyed_value(&text("memory", "memory.stat"), "total_inactive_file"),
            ),
            memory_limit: v1_limit(&text("memory", "memory.limit_in_bytes")),
            pids: number(&text("pids", "pids.current")),
            block_read,
            block_write,
        }
    } else {
        let (block_read, block_write) = v2_block(&text("io", "io.stat"));
        Usage {
            cpu_ns: keyed_value(&text("cpu", "cpu.stat"), "usage_usec")
                .unwrap_or(0)
                .saturating_mul(1000),
            memory: less_cache(
                number(&text("memory", "memory.current")),
                keyed_value(&text("memory", "memory.stat"), "inactive_file"),
            ),
            memory_limit: text("memory", "memory.max").trim().parse().ok(),
            pids: number(&text("pids", "pids.current")),
            block_read,
            block_write,
        }
    }
}

fn number(text: &str) -> u64 {
    text.trim().parse().unwrap_or(0)
}

fn less_cache(usage: u64, inactive_file: Option<u64>) -> u64 {
    match inactive_file {
        Some(cache) if cache < usage => usage - cache,
        _ => usage,
    }
}

/// v1 writes "no limit" as the largest page-aligned i64.
fn v1_limit(text: &str) -> Option<u64> {
    let limit: u64 = text.trim().parse().ok()?;
    (limit < 1 << 62).then_some(limit)
}

/// `8:0 Read 4096` lines: bytes read and written over all devices.
fn v1_block(text: &str) -> (u64, u64) {
    let mut sums = (0u64, 0u64);
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(_dev), Some(op), Some(n)) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let n: u64 = n.parse().unwrap_or(0);
        match op.to_ascii_lowercase().as_str() {
            "read" => sums.0 = sums.0.saturating_add(n),
            "write" => sums.1 = sums.1.saturating_add(n),
            _ => {}
        }
    }
    sums
}

/// `8:0 rbytes=4096 wbytes=0 …` lines.
fn v2_block(text: &str) -> (u64, u64) {
    let mut sums = (0u64, 0u64);
    for field in text.split_whitespace() {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        let n: u64 = value.parse().unwrap_or(0);
        match key {
            "rbytes" => sums.0 = sums.0.saturating_add(n),
            "wbytes" => sums.1 = sums.1.saturating_add(n),
            _ => {}
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_files_are_read_as_docker_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        for c in ["cpuacct", "memory", "pids", "blkio"] {
            std::fs::create_dir_all(dir.path().join(c).join("kiln/a")).unwrap();
        }
        let put = |c: &str, f: &str, v: &str| {
            std::fs::write(dir.path().join(c).join("kiln/a").join(f), v).unwrap()
        };
        put("cpuacct", "cpuacct.usage", "1500\n");
        put("memory", "memory.usage_in_bytes", "10000\n");
        put(
            "memory",
            "memory.stat",
            "cache 9\ntotal_inactive_file 4000\n",
        );
        put("memory", "memory.limit_in_bytes", "9223372036854771712\n");
        put("pids", "pids.current", "3\n");
        put(
            "blkio",
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 100\n8:0 Write 20\n8:16 Read 1\nTotal 121\n",
        );
        let self_cgroup = "4:memory:/\n3:cpuacct:/\n2:pids:/\n1:blkio:/\n";
        let cg = super::super::open_at(dir.path(), Path::new("kiln/a"), self_cgroup).unwrap();
        assert_eq!(
            usage(cg.as_ref()),
            Usage {
                cpu_ns: 1500,
                memory: 6000,
                memory_limit: None,
                pids: 3,
                block_read: 101,
                block_write: 20,
            }
        );
        put("memory", "memory.limit_in_bytes", "67108864\n");
        assert_eq!(usage(cg.as_ref()).memory_limit, Some(64 << 20));
    }

    #[test]
    fn v2_files_are_read_as_docker_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cgroup.controllers"), "cpu memory").unwrap();
        let cg_dir = dir.path().join("kiln/a");
        std::fs::create_dir_all(&cg_dir).unwrap();
        let put = |f: &str, v: &str| std::fs::write(cg_dir.join(f), v).unwrap();
        put("cpu.stat", "usage_usec 7\nuser_usec 5\n");
        put("memory.current", "5000\n");
        put("memory.stat", "anon 1\ninactive_file 1000\n");
        put("memory.max", "max\n");
        put("pids.current", "2\n");
        put(
            "io.stat",
            "8:0 rbytes=10 wbytes=5 rios=1\n8:16 rbytes=1 wbytes=0\n",
        );
        let cg = super::super::open_at(dir.path(), Path::new("kiln/a"), "0::/\n").unwrap();
        let u = usage(cg.as_ref());
        assert_eq!((u.cpu_ns, u.memory, u.memory_limit), (7000, 4000, None));
        assert_eq!((u.pids, u.block_read, u.block_write), (2, 11, 5));
    }
}
