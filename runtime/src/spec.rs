//! Docker's defaults as an OCI runtime [`Spec`]: what `docker run` (and a
//! BuildKit `RUN`) gives a container unless told otherwise. [`Config`] holds
//! the choices a user makes; [`Config::to_spec`] fills in the rest.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use oci_spec::runtime::{
    BoxBuilder, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxSeccomp, PosixRlimit, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};

use crate::process::capabilities::DOCKER_DEFAULT;

mod devices;
mod mounts;
mod resources;
use crate::process::exec::DEFAULT_PATH;
use crate::process::seccomp::profile;
use crate::process::user::ResolvedUser;
pub use devices::DeviceMapping;
use mounts::{masked_paths, READONLY_PATHS};
pub use resources::parse_bytes;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown capability {0:?}")]
    Capability(String),
    #[error("building the runtime spec: {0}")]
    Build(String),
    /// A choice that needs real root, asked of a rootless kiln.
    #[error("rootless: {flag} needs a cgroup, and cgroup v1 has no delegation to an ordinary user; run kiln as root for it")]
    RootlessCgroup { flag: &'static str },
    #[error("rootless: --device needs real root to make device nodes; run kiln as root for it")]
    RootlessDevice,
}

/// Annotation asking kiln's helper to run its own reaper as PID 1.
pub const REAPER_ANNOTATION: &str = "org.kiln.init";

/// Annotation (set by [`crate::container::start_with`]) holding the
/// command until the caller answers the helper's gate message.
pub const GATE_ANNOTATION: &str = "org.kiln.gate";

/// Where Docker mounts its init binary for `--init`.
pub const INIT_PATH: &str = "/sbin/docker-init";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// A new network namespace with only `lo`, up.
    None,
    /// A new network namespace (only `lo` for now; outbound comes later).
    #[default]
    Private,
    /// The host's network namespace (the default for build steps).
    Host,
}

#[derive(Debug, Clone, Default)]
pub enum Seccomp {
    /// Docker's default profile, adjusted to the capability set.
    #[default]
    Default,
    Unconfined,
    Profile(Box<LinuxSeccomp>),
}

#[derive(Debug, Clone, Default)]
pub enum Init {
    #[default]
    None,
    /// A static init (tini) on the host, bound at /sbin/docker-init.
    Binary(PathBuf),
    /// kiln's own reaper as PID 1 (only with kiln's runtime).
    Reaper,
}

/// `-v SRC:DST[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
}

/// Resource limits, in Docker's units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// `-m`, bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`, bytes of memory plus swap; -1 for unlimited.
    pub memory_swap: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
}

/// What a user chooses for a container; everything else is Docker's default.
#[derive(Debug, Clone)]
pub struct Config {
    pub args: Vec<String>,
    /// `K=V` entries; PATH, HOSTNAME, HOME (and TERM with a terminal) are
    /// added when absent, as Docker does.
    pub env: Vec<String>,
    pub cwd: String,
    pub user: ResolvedUser,
    /// Defaults to the first 12 characters of the container id.
    pub hostname: Option<String>,
    pub network: Network,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    pub binds: Vec<Bind>,
    /// `--tmpfs DST[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    pub limits: Limits,
    pub terminal: bool,
    /// The pty's (rows, columns) from its first instant, so the command
    /// never sees a 0×0 terminal before the caller's size arrives.
    pub console_size: Option<(u16, u16)>,
    pub init: Init,
    /// `--shm-size` in bytes; Docker's 64 MiB when `None`.
    pub shm_size: Option<i64>,
    /// `--ulimit`s, set on the command before it starts.
    pub rlimits: Vec<PosixRlimit>,
    /// `--sysctl`s, written in the container's own namespaces.
    pub sysctls: HashMap<String, String>,
    /// `--pid host`, `--ipc host`, `--uts host`: the host's namespaces.
    pub host_namespaces: HostNamespaces,
    /// `--device`: host character devices made in the container's /dev.
    pub devices: Vec<DeviceMapping>,
}

/// Which of the PID, IPC and UTS namespaces are the host's own instead of
/// new ones (Docker's `--pid host`, `--ipc host`, `--uts host`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostNamespaces {
    pub pid: bool,
    pub ipc: bool,
    pub uts: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            args: vec!["sh".into()],
            env: Vec::new(),
            cwd: "/".into(),
            user: ResolvedUser {
                uid: 0,
                gid: 0,
                additional_gids: Vec::new(),
                home: "/root".into(),
            },
            hostname: None,
            network: Network::Private,
            read_only: false,
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            no_new_privileges: false,
            seccomp: Seccomp::Default,
            binds: Vec::new(),
            tmpfs: Vec::new(),
            limits: Limits::default(),
            terminal: false,
            console_size: None,
            init: Init::None,
            shm_size: None,
            rlimits: Vec::new(),
            sysctls: HashMap::new(),
            host_namespaces: HostNamespaces::default(),
            devices: Vec::new(),
        }
    }
}

fn build_err(e: impl std::fmt::Display) -> Error {
    Error::Build(e.to_string())
}

/// Parses `NET_ADMIN`, `cap_net_admin`, `CAP_NET_ADMIN`.
pub fn parse_capability(name: &str) -> Result<Capability, Error> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| Error::Capability(name.to_string()))
}

/// `--privileged`'s "all": every capability kiln itself may hand on (this
/// machine's root lacks CAP_SYS_RESOURCE, for one).
fn all_capabilities() -> Vec<Capability> {
    caps::read(None, caps::CapSet::Bounding)
        .unwrap_or_else(|_| caps::all())
        .into_iter()
        .filter_map(|c| parse_capability(&c.to_string()).ok())
        .collect()
}

impl Config {
    /// The final capability set: Docker's default (or all, privileged),
    /// plus `--cap-add`, minus `--cap-drop`; `ALL` works in both.
    pub fn capabilities(&self) -> Result<Vec<Capability>, Error> {
        let mut set: HashSet<Capability> = if self.privileged {
            all_capabilities().into_iter().collect()
        } else {
            DOCKER_DEFAULT.into_iter().collect()
        };
        for name in &self.cap_add {
            match name.eq_ignore_ascii_case("all") {
                true => set.extend(all_capabilities()),
                false => {
                    set.insert(parse_capability(name)?);
                }
            }
        }
        for name in &self.cap_drop {
            match name.eq_ignore_ascii_case("all") {
                true => set.clear(),
                false => {
                    set.remove(&parse_capability(name)?);
                }
            }
        }
        let mut list: Vec<Capability> = set.into_iter().collect();
        list.sort_by_key(|c| c.to_string());
        Ok(list)
    }

    fn environment(&self, hostname: &str) -> Vec<String> {
        let mut env = self.env.clone();
        let has = |env: &[String], key: &str| env.iter().any(|e| e.split('=').next() == Some(key));
        if !has(&env, "PATH") {
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        if !has(&env, "HOSTNAME") {
            env.insert(1, format!("HOSTNAME={hostname}"));
        }
        if self.terminal && !has(&env, "TERM") {
            env.push("TERM=xterm".into());
        }
        if !has(&env, "HOME") {
            env.push(format!("HOME={}", self.user.home));
        }
        env
    }

    fn args(&self) -> Vec<String> {
        match self.init {
            Init::Binary(_) => [INIT_PATH.to_string(), "--".to_string()]
                .into_iter()
                .chain(self.args.iter().cloned())
                .collect(),
            _ => self.args.clone(),
        }
    }

    fn namespaces(&self, process_sandbox: bool) -> Vec<oci_spec::runtime::LinuxNamespace> {
        let host = self.host_namespaces;
        let shared_pid = host.pid || !process_sandbox;
        let mut types: Vec<LinuxNamespaceType> = [
            (shared_pid, LinuxNamespaceType::Pid),
            (host.ipc, LinuxNamespaceType::Ipc),
            (host.uts, LinuxNamespaceType::Uts),
            (false, LinuxNamespaceType::Mount),
        ]
        .into_iter()
        .filter(|(shared, _)| !shared)
        .map(|(_, typ)| typ)
        .collect();
        if self.network != Network::Host {
            types.push(LinuxNamespaceType::Network);
        }
        // Docker's default cgroupns: private on a v2 host, the host's on v1.
        if crate::cgroups::is_unified() {
            types.push(LinuxNamespaceType::Cgroup);
        }
        types
            .into_iter()
            .filter_map(|t| LinuxNamespaceBuilder::default().typ(t).build().ok())
            .collect()
    }

    /// The OCI spec for container `id`, rooted at `rootfs` (relative to the
    /// bundle when written as one).
    pub fn to_spec(&self, id: &str) -> Result<Spec, Error> {
        self.spec_with(id, crate::sandbox::on())
    }

    fn spec_with(&self, id: &str, process_sandbox: bool) -> Result<Spec, Error> {
        let caps = self.capabilities()?;
        let hostname = self
            .hostname
            .clone()
            .unwrap_or_else(|| id.chars().take(12).collect());
        let cap_set: HashSet<Capability> = caps.iter().copied().collect();
        let capabilities = LinuxCapabilitiesBuilder::default()
            .bounding(cap_set.clone())
            .effective(cap_set.clone())
            .permitted(cap_set)
            .inheritable(HashSet::new())
            // The builder's default would fill ambient with youki's defaults.
            .ambient(HashSet::new())
            .build()
            .map_err(build_err)?;
        let user = UserBuilder::default()
            .uid(self.user.uid)
            .gid(self.user.gid)
            .additional_gids(self.user.additional_gids.clone())
            .build()
            .map_err(build_err)?;
        let mut process = ProcessBuilder::default()
            .terminal(self.terminal)
            .user(user)
            .args(self.args())
            .env(self.environment(&hostname))
            .cwd(self.cwd.clone())
            .capabilities(capabilities)
            .no_new_privileges(self.no_new_privileges)
            // Docker sets none but --ulimit's (the builder's default is NOFILE=1024).
            .rlimits(self.rlimits.clone())
            .build()
            .map_err(build_err)?;
        if let (true, Some((rows, cols))) = (self.terminal, self.console_size) {
            let size = BoxBuilder::default()
                .height(u64::from(rows))
                .width(u64::from(cols))
                .build()
                .map_err(build_err)?;
            process.set_console_size(Some(size));
        }
        let mut linux = LinuxBuilder::default()
            .namespaces(self.namespaces(process_sandbox))
            .resources(self.resources()?);
        // Rootless, there is no cgroup to make: limits were refused above.
        if crate::rootless::active() {
            self.refuse_rootless()?;
        } else {
            linux = linux.cgroups_path(PathBuf::from(format!("kiln/{id}")));
        }
        // Set both lists even when empty: the builder's defaults are youki's.
        let (masked, readonly) = match self.privileged {
            true => (Vec::new(), Vec::new()),
            false => (
                masked_paths(),
                READONLY_PATHS.iter().map(|p| p.to_string()).collect(),
            ),
        };
        linux = linux.masked_paths(masked).readonly_paths(readonly);
        if !self.devices.is_empty() {
            linux = linux.devices(devices::linux_devices(&self.devices)?);
        }
        if !self.sysctls.is_empty() {
            linux = linux.sysctl(self.sysctls.clone());
        }
        match &self.seccomp {
            Seccomp::Unconfined => {}
            _ if self.privileged => {}
            Seccomp::Default => linux = linux.seccomp(profile::docker_default(&caps)),
            Seccomp::Profile(p) => linux = linux.seccomp((**p).clone()),
        }
        let mut annotations = HashMap::new();
        if matches!(self.init, Init::Reaper) {
            annotations.insert(REAPER_ANNOTATION.to_string(), "reaper".to_string());
        }
        SpecBuilder::default()
            .version("1.0.2")
            .root(
                RootBuilder::default()
                    .path("rootfs")
                    .readonly(self.read_only)
                    .build()
                    .map_err(build_err)?,
            )
            .hostname(hostname)
            .mounts(self.mounts(process_sandbox))
            .process(process)
            .linux(linux.build().map_err(build_err)?)
            .annotations(annotations)
            .build()
            .map_err(build_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceType;
    use std::path::Path;

    #[test]
    fn default_capabilities_are_dockers() {
        let caps = Config::default().capabilities().unwrap();
        assert_eq!(caps.len(), 14);
        assert!(!caps.contains(&Capability::SysAdmin));
    }

    #[test]
    fn cap_add_and_drop() {
        let config = Config {
            cap_add: vec!["sys_admin".into()],
            cap_drop: vec!["CAP_CHOWN".into()],
            ..Config::default()
        };
        let caps = config.capabilities().unwrap();
        assert!(caps.contains(&Capability::SysAdmin));
        assert!(!caps.contains(&Capability::Chown));
        let none = Config {
            cap_drop: vec!["ALL".into()],
            ..Config::default()
        };
        assert!(none.capabilities().unwrap().is_empty());
        let bad = Config {
            cap_add: vec!["FLY".into()],
            ..Config::default()
        };
        assert!(bad.capabilities().is_err());
    }

    #[test]
    fn limits_follow_docker_units() {
        let config = Config {
            limits: Limits {
                memory: Some(32 << 20),
                cpus: Some(0.5),
                pids_limit: Some(50),
                ..Limits::default()
            },
            ..Config::default()
        };
        let spec = config.to_spec("abc").unwrap();
        let res = spec.linux().as_ref().unwrap().resources().clone().unwrap();
        let mem = res.memory().unwrap();
        assert_eq!(mem.limit(), Some(32 << 20));
        assert_eq!(mem.swap(), Some(64 << 20));
        assert_eq!(res.cpu().clone().unwrap().quota(), Some(50_000));
        assert_eq!(res.pids().unwrap().limit(), 50);
    }

    #[test]
    fn environment_gets_docker_defaults() {
        let config = Config {
            env: vec!["A=1".into()],
            terminal: true,
            ..Config::default()
        };
        let spec = config.to_spec("0123456789abcdef").unwrap();
        let env = spec.process().as_ref().unwrap().env().clone().unwrap();
        assert_eq!(env[0], format!("PATH={DEFAULT_PATH}"));
        assert_eq!(env[1], "HOSTNAME=0123456789ab");
        assert!(env.contains(&"TERM=xterm".to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
        assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
    }

    #[test]
    fn console_size_goes_with_a_terminal_only() {
        let size = |terminal| {
            let config = Config {
                terminal,
                console_size: Some((33, 101)),
                ..Config::default()
            };
            let spec = config.to_spec("c").unwrap();
            spec.process().as_ref().unwrap().console_size()
        };
        let b = size(true).unwrap();
        assert_eq!((b.height(), b.width()), (33, 101));
        assert_eq!(size(false), None);
    }

    #[test]
    fn privileged_lifts_seccomp_and_masks() {
        let spec = Config {
            privileged: true,
            ..Config::default()
        }
        .to_spec("p")
        .unwrap();
        let linux = spec.linux().clone().unwrap();
        assert!(linux.seccomp().is_none());
        assert_eq!(linux.masked_paths().as_deref(), Some(&[][..]));
        assert_eq!(linux.readonly_paths().as_deref(), Some(&[][..]));
        let spec = Config::default().to_spec("p").unwrap();
        assert!(spec.linux().as_ref().unwrap().seccomp().is_some());
    }

    #[test]
    fn devices_and_cgroups_are_dockers() {
        let spec = Config::default().to_spec("d").unwrap();
        let linux = spec.linux().clone().unwrap();
        let rules = linux
            .resources()
            .clone()
            .unwrap()
            .devices()
            .clone()
            .unwrap();
        assert!(!rules[0].allow());
        assert_eq!(rules[0].typ(), None);
        let allowed: Vec<(Option<i64>, Option<i64>)> = rules[1..]
            .iter()
            .filter(|r| r.allow() && r.typ() == Some(LinuxDeviceType::C))
            .map(|r| (r.major(), r.minor()))
            .collect();
        assert!(allowed.contains(&(Some(1), Some(3))));
        assert!(allowed.contains(&(Some(136), None)));
        assert!(!allowed.contains(&(Some(8), Some(0))));
        let cgroup = spec
            .mounts()
            .iter()
            .flatten()
            .find(|m| m.destination() == Path::new("/sys/fs/cgroup"))
            .unwrap();
        assert!(cgroup.options().iter().flatten().any(|o| o == "ro"));
        let privileged = Config {
            privileged: true,
            ..Config::default()
        }
        .to_spec("p")
        .unwrap();
        let rules = privileged
            .linux()
            .clone()
            .unwrap()
            .resources()
            .clone()
            .unwrap();
        let rules = rules.devices().clone().unwrap();
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allow());
        assert_eq!(rules[0].access().as_deref(), Some("rwm"));
    }

    #[test]
    fn host_network_keeps_the_host_namespace() {
        let spec = Config {
            network: Network::Host,
            ..Config::default()
        }
        .to_spec("h")
        .unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(!ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
    }

    #[test]
    fn without_the_process_sandbox_pid_and_proc_are_the_callers() {
        let spec = Config::default().spec_with("p", false).unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(!ns.iter().any(|n| n.typ() == LinuxNamespaceType::Pid));
        assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::Mount));
        let proc = (spec.mounts().as_ref().unwrap().iter())
            .find(|m| m.destination() == Path::new("/proc"))
            .unwrap();
        assert_eq!(proc.source().as_deref(), Some(Path::new("/proc")));
        let options = proc.options().clone().unwrap();
        assert_eq!(options, ["rbind", "nosuid", "noexec", "nodev"]);
        // Masked paths still cover the bound /proc's.
        let masked = spec
            .linux()
            .as_ref()
            .unwrap()
            .masked_paths()
            .clone()
            .unwrap();
        assert!(masked.contains(&"/proc/kcore".to_string()));

        let sandboxed = Config::default().spec_with("p", true).unwrap();
        let ns = sandboxed
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .clone()
            .unwrap();
        assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::Pid));
        let proc = &sandboxed.mounts().as_ref().unwrap()[0];
        assert_eq!(proc.typ().as_deref(), Some("proc"));
    }

    #[test]
    fn init_binary_wraps_the_command() {
        let config = Config {
            init: Init::Binary("/usr/bin/tini-static".into()),
            args: vec!["true".into()],
            ..Config::default()
        };
        let spec = config.to_spec("i").unwrap();
        let args = spec.process().as_ref().unwrap().args().clone().unwrap();
        assert_eq!(args, vec![INIT_PATH, "--", "true"]);
    }
}
