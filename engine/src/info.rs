//! What `docker info` and `docker version` report, for kiln: counts of the
//! containers and images under the root, and facts of the host (kernel,
//! operating system, CPUs, memory, cgroups). Field names are Docker's
//! (`GET /info`, `GET /version`), so `--format '{{json .}}'` reads alike.

use std::collections::BTreeSet;

use kiln_runtime::container::state::Status;
use serde::Serialize;

use crate::{Engine, Error};

/// The API version kiln's answers follow (Docker 20.10's).
pub const API_VERSION: &str = "1.41";

/// `GET /info` in Docker's key names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemInfo {
    pub containers: usize,
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    pub images: usize,
    pub driver: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    pub mem_total: u64,
    pub name: String,
    pub server_version: String,
    pub docker_root_dir: String,
    pub registry_config: RegistryInfo,
}

/// The registry part of `GET /info`: Docker Hub's mirrors.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegistryInfo {
    pub mirrors: Vec<String>,
}

/// One side of `GET /version` (kiln is its own client and server).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionInfo {
    pub version: String,
    pub api_version: String,
    pub rust_version: String,
    pub git_commit: String,
    pub build_time: String,
    pub os: String,
    pub arch: String,
}

/// What the binary was built from: the commit, its time, the compiler.
#[derive(Debug, Clone, Copy)]
pub struct Build<'a> {
    pub git_commit: &'a str,
    pub time: &'a str,
    pub rust_version: &'a str,
}

impl VersionInfo {
    /// This kiln, given what the binary knows of its build.
    pub fn this(build: &Build) -> VersionInfo {
        VersionInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            api_version: API_VERSION.into(),
            rust_version: build.rust_version.into(),
            git_commit: build.git_commit.into(),
            build_time: build.time.into(),
            os: std::env::consts::OS.into(),
            arch: go_arch(std::env::consts::ARCH).into(),
        }
    }
}

/// Go's name for an architecture (`GOARCH`), which Docker shows.
fn go_arch(rust: &str) -> &str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// How many containers are in each state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    total: usize,
    running: usize,
    paused: usize,
}

impl Engine {
    /// The store's counts and the host's facts; `mirrors` are Docker Hub's
    /// mirrors from the configuration (which the engine does not read).
    pub fn info(&self, mirrors: Vec<String>) -> Result<SystemInfo, Error> {
        let counts = self.container_counts()?;
        let images = self.image_count()?;
        let uname = nix::sys::utsname::uname().ok();
        let text = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uname
                .as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        Ok(SystemInfo {
            containers: counts.total,
            containers_running: counts.running,
            containers_paused: counts.paused,
            containers_stopped: counts.total - counts.running - counts.paused,
            images,
            driver: "overlay2".into(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version().into(),
            kernel_version: text(|u| u.release()),
            operating_system: operating_system(),
            os_type: std::env::consts::OS.into(),
            architecture: text(|u| u.machine()),
            ncpu: std::thread::available_parallelism().map_or(1, usize::from),
            mem_total: mem_total().unwrap_or(0),
            name: text(|u| u.nodename()),
            server_version: env!("CARGO_PKG_VERSION").into(),
            docker_root_dir: self.root().display().to_string(),
            registry_config: RegistryInfo { mirrors },
        })
    }

    fn container_counts(&self) -> Result<Counts, Error> {
        let mut counts = Counts::default();
        for c in self.containers().list()? {
            counts.total += 1;
            match c.state.status {
                Status::Running | Status::Restarting => counts.running += 1,
                Status::Paused => counts.paused += 1,
                _ => {}
            }
        }
        Ok(counts)
    }

    /// Distinct images (by ID), however many names each has.
    fn image_count(&self) -> Result<usize, Error> {
        let rows = self.list_images(None)?;
        Ok(rows.iter().map(|r| r.id).collect::<BTreeSet<_>>().len())
    }
}

fn cgroup_version() -> &'static str {
    if kiln_runtime::cgroups::is_unified() {
        "2"
    } else {
        "1"
    }
}

/// `PRETTY_NAME` of os-release, as Docker shows it.
fn operating_system() -> String {
    os_release("PRETTY_NAME").unwrap_or_else(|| "Linux".into())
}

/// The value of `key` in the host's os-release file.
pub fn os_release(key: &str) -> Option<String> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| os_release_value(&text, key))
}

fn os_release_value(os_release: &str, key: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_string())
    })
}

/// `MemTotal` of /proc/meminfo, in bytes.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_total(&text)
}

fn meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_files_are_read_as_docker_reads_them() {
        let os = "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        let pretty_name = |text| os_release_value(text, "PRETTY_NAME");
        assert_eq!(
            pretty_name(os).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(pretty_name("NAME=x\n"), None);
        let mem = "MemTotal:        8000000 kB\nMemFree: 1 kB\n";
        assert_eq!(meminfo_total(mem), Some(8_000_000 * 1024));
        assert_eq!(meminfo_total("MemTotal: lots kB\n"), None);
    }

    #[test]
    fn architectures_have_go_names() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }

    #[test]
    fn an_empty_root_has_nothing_and_docker_keys() {
        let root = tempfile::tempdir().unwrap();
        let info = Engine::new(root.path())
            .info(vec!["m.example".into()])
            .unwrap();
        assert_eq!((info.containers, info.images), (0, 0));
        let json = serde_json::to_value(&info).unwrap();
        for key in [
            "ContainersRunning",
            "OSType",
            "NCPU",
            "MemTotal",
            "DockerRootDir",
        ] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        assert_eq!(json["RegistryConfig"]["Mirrors"][0], "m.example");
    }
}
