//! What a container is made with: Docker's `create`/`run` choices as plain
//! values (the CLI fills them from its flags, the API server from JSON).
//! Texts (`-e`, `-v`, `-p`, `--restart` …) keep Docker's syntax and are
//! checked when the container is made.

use std::path::PathBuf;

/// Who runs the container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Runtime {
    /// kiln's own (the only one with records, networks and a monitor).
    #[default]
    Kiln,
    /// An OCI runtime handed a bundle.
    Runc,
    Crun,
}

/// Resource limits in Docker's syntax (`64m`, `-1` for unlimited swap).
#[derive(Debug, Clone, Default)]
pub struct LimitOptions {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
}

/// The `--health-*` flags, as given (durations in Go's syntax).
#[derive(Debug, Clone, Default)]
pub struct HealthOptions {
    /// `--health-cmd`, run with `/bin/sh -c` (Docker's `CMD-SHELL`).
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub retries: Option<i64>,
    /// `--no-healthcheck`: the image's check is not run.
    pub disabled: bool,
}

#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The image reference; `None` with `rootfs`.
    pub image: Option<String>,
    /// A directory to run as the root filesystem instead of an image.
    pub rootfs: Option<PathBuf>,
    /// Words that replace the image's Cmd.
    pub command: Vec<String>,
    /// `--entrypoint`: replaces the image's and drops its Cmd; empty for none.
    pub entrypoint: Option<String>,
    /// `K=V`, or `K` to copy it from this process's environment.
    pub env: Vec<String>,
    /// Files of `K=V` lines, read when the container is made.
    pub env_files: Vec<PathBuf>,
    pub workdir: Option<String>,
    /// `name|uid[:group|gid]`, looked up in the container's files.
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub limits: LimitOptions,
    /// `private`, `none`, `host`, or a kiln network's name.
    pub network: String,
    pub name: Option<String>,
    /// `K=V`, or `K` for an empty value.
    pub labels: Vec<String>,
    /// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    pub restart: String,
    /// `[IP:][HOSTPORT:]CTRPORT[/tcp|udp]`.
    pub publish: Vec<String>,
    pub publish_all: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    /// `C[:ro|rw]`.
    pub volumes_from: Vec<String>,
    /// `C[:ALIAS]`.
    pub links: Vec<String>,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// `no-new-privileges[=true|false]`, `seccomp=unconfined|FILE.json`.
    pub security_opts: Vec<String>,
    /// `/ctr`, `NAME:/ctr[:ro]` or `/host:/ctr[:ro]`.
    pub volumes: Vec<String>,
    /// `DST[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    pub init: bool,
    /// Remove the container when it exits.
    pub rm: bool,
    pub tty: bool,
    pub interactive: bool,
    pub runtime: Runtime,
    /// `HOST:IP` lines for /etc/hosts.
    pub add_hosts: Vec<String>,
    /// Nameservers, search domains and resolver options for resolv.conf.
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `PORT[/PROTO]` or `START-END[/PROTO]`, exposed as the image's are.
    pub expose: Vec<String>,
    /// Supplementary groups: names in the container's /etc/group, or IDs.
    pub group_add: Vec<String>,
    /// `NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    /// The size of /dev/shm (`64m`).
    pub shm_size: Option<String>,
    /// `KEY=VALUE` kernel parameters of the container's namespaces.
    pub sysctls: Vec<String>,
    /// More names the container has on a kiln network.
    pub network_aliases: Vec<String>,
    /// A file to write the new container's ID to; it must not exist.
    pub cidfile: Option<PathBuf>,
    pub health: HealthOptions,
    /// `--pid`, `--ipc`, `--uts`: `host`, or the container's own.
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    /// `HOST[:CONTAINER][:PERMS]`.
    pub devices: Vec<String>,
    /// `json-file` (the default), `local` or `none`.
    pub log_driver: Option<String>,
    /// `KEY=VALUE` (or several joined by commas) for the log driver.
    pub log_opts: Vec<String>,
    /// Which of the container's outputs a foreground run shows (`-a`).
    pub attach: AttachStreams,
    /// A foreground run forwards the signals kiln receives (non-pty only).
    pub sig_proxy: bool,
    /// `--platform os/arch[/variant]`: the image must be for it, and this
    /// machine able to run it.
    pub platform: Option<String>,
}

/// `-a STDOUT`, `-a STDERR`: the outputs copied to kiln's own; Docker's
/// default is both. (`-a STDIN` is `-i`'s forwarding.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachStreams {
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for AttachStreams {
    fn default() -> AttachStreams {
        AttachStreams {
            stdout: true,
            stderr: true,
        }
    }
}

/// Docker's defaults: no image, command or flags; the private network,
/// restart policy `no`, the json-file log, both outputs shown and
/// signals forwarded.
impl Default for CreateOptions {
    fn default() -> CreateOptions {
        CreateOptions {
            image: None,
            rootfs: None,
            command: Vec::new(),
            entrypoint: None,
            env: Vec::new(),
            env_files: Vec::new(),
            workdir: None,
            user: None,
            hostname: None,
            limits: LimitOptions::default(),
            network: "private".into(),
            name: None,
            labels: Vec::new(),
            restart: "no".into(),
            publish: Vec::new(),
            publish_all: false,
            stop_signal: None,
            stop_timeout: None,
            volumes_from: Vec::new(),
            links: Vec::new(),
            read_only: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            privileged: false,
            security_opts: Vec::new(),
            volumes: Vec::new(),
            tmpfs: Vec::new(),
            init: false,
            rm: false,
            tty: false,
            interactive: false,
            runtime: Runtime::Kiln,
            add_hosts: Vec::new(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
            expose: Vec::new(),
            group_add: Vec::new(),
            ulimits: Vec::new(),
            shm_size: None,
            sysctls: Vec::new(),
            network_aliases: Vec::new(),
            cidfile: None,
            health: HealthOptions::default(),
            pid: None,
            ipc: None,
            uts: None,
            devices: Vec::new(),
            log_driver: None,
            log_opts: Vec::new(),
            attach: AttachStreams::default(),
            sig_proxy: true,
            platform: None,
        }
    }
}

impl CreateOptions {
    /// Checks the flag values that need no image or store (`--add-host`,
    /// `--dns*`, `--expose`, `--ulimit`, `--sysctl`, sizes and limits …),
    /// so a caller can refuse them before it pulls anything, as Docker's
    /// CLI does.
    pub fn check(&self) -> Result<(), crate::Error> {
        super::dns::annotate(&mut oci_spec::runtime::Spec::default(), self, "")?;
        super::expose::exposed(self, &crate::image::Image::default())?;
        super::ulimits::rlimits(&self.ulimits)?;
        super::sysctls::sysctls(&self.sysctls, &self.network)?;
        super::spec::shm_size(self)?;
        super::limits::limits(&self.limits)?;
        super::health::healthcheck(&self.health)?;
        super::host_namespaces::host_namespaces(self)?;
        super::devices::devices(&self.devices)?;
        super::links::check(&self.links)?;
        super::log_options::log_config(self)?;
        super::platform::requested(self)?;
        Ok(())
    }
}
