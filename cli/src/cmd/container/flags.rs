//! `run` and `create`'s flags (Docker's), and the engine's
//! [`CreateOptions`] they stand for.

use std::path::PathBuf;

use anyhow::Context;

use kiln_engine::container::{AttachStreams, CreateOptions, HealthOptions, LimitOptions, Runtime};

use crate::early_helper::Wanted;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeName {
    Kiln,
    Crun,
    Runc,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables (K=V, or K to copy it from here)
    #[arg(short, long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (name|uid[:group|gid])
    #[arg(short, long)]
    user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Overwrite the image's ENTRYPOINT
    #[arg(long)]
    entrypoint: Option<String>,
    /// Memory limit (e.g. 64m)
    #[arg(short, long)]
    memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    cpu_shares: Option<u64>,
    /// Tune the container's pids limit (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Network: private (own namespace, outbound via slirp4netns), none
    /// (only lo), host, or the name of a `kiln network`
    #[arg(long, alias = "net", default_value = "private")]
    network: String,
    /// Run in the background and print the container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Set metadata on the container (K=V, or K for an empty value)
    #[arg(short, long = "label", value_name = "K=V")]
    label: Vec<String>,
    /// Restart policy: no, always, on-failure[:N], unless-stopped
    #[arg(long, default_value = "no")]
    restart: String,
    /// Publish a container's port: [IP:][HOSTPORT:]CTRPORT[/tcp|udp]
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    /// Publish every EXPOSEd port to a free host port
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Signal to stop the container (default: the image's STOPSIGNAL or SIGTERM)
    #[arg(long)]
    stop_signal: Option<String>,
    /// Seconds to wait before killing the container on stop
    #[arg(long)]
    stop_timeout: Option<u64>,
    /// Mount the volumes of another container (C[:ro|rw])
    #[arg(long)]
    volumes_from: Vec<String>,
    /// Add a link to another container (C[:ALIAS])
    #[arg(long)]
    link: Vec<String>,
    /// Mount the container's root filesystem read-only
    #[arg(long)]
    read_only: bool,
    /// Add Linux capabilities
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Security options: no-new-privileges, seccomp=unconfined|FILE.json
    #[arg(long)]
    security_opt: Vec<String>,
    /// Mount a volume: /ctr (anonymous), NAME:/ctr or /host:/ctr, [:ro]
    #[arg(short, long)]
    volume: Vec<String>,
    /// Add a host device to the container (HOST[:CONTAINER][:PERMS], PERMS of rwm)
    #[arg(long = "device", value_name = "HOST[:CTR][:rwm]")]
    device: Vec<String>,
    /// PID namespace: host, or the container's own (the default)
    #[arg(long, value_name = "host")]
    pid: Option<String>,
    /// IPC namespace: host, or the container's own (private, shareable: the default)
    #[arg(long, value_name = "host")]
    ipc: Option<String>,
    /// UTS namespace (host name): host, or the container's own (the default)
    #[arg(long, value_name = "host")]
    uts: Option<String>,
    /// Attach a filesystem mount: type=bind|volume|tmpfs,source=…,target=…[,readonly]
    #[arg(long = "mount", value_name = "SPEC")]
    mount: Vec<String>,
    /// Mount a tmpfs directory (DST[:OPTIONS])
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Runtime to use: kiln's own, or an OCI runtime given a bundle
    #[arg(long, value_enum, default_value = "kiln")]
    runtime: RuntimeName,
    /// Run this directory as the root filesystem instead of an image
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Pull the image before running: missing, always or never
    #[arg(long, default_value = "missing", value_parser = ["missing", "always", "never"])]
    pub(super) pull: String,
    /// Add a custom host-to-IP mapping (HOST:IP)
    #[arg(long, value_name = "HOST:IP")]
    add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains ("." for none)
    #[arg(long)]
    dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long)]
    dns_option: Vec<String>,
    /// Expose a port or a range of ports (PORT[/PROTO], START-END[/PROTO])
    #[arg(long)]
    expose: Vec<String>,
    /// Write the container ID to the file (which must not exist)
    #[arg(long, value_name = "FILE")]
    cidfile: Option<PathBuf>,
    /// Read in a line delimited file of labels
    #[arg(long, value_name = "FILE")]
    label_file: Vec<PathBuf>,
    /// Add additional groups to join (names in the image's /etc/group, or IDs)
    #[arg(long, value_name = "GROUP")]
    group_add: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD], e.g. nofile=1024:2048)
    #[arg(long, allow_hyphen_values = true)]
    ulimit: Vec<String>,
    /// Size of /dev/shm (default 64m)
    #[arg(long)]
    shm_size: Option<String>,
    /// Namespaced kernel parameters (net.*, kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*)
    #[arg(long, value_name = "KEY=VALUE")]
    sysctl: Vec<String>,
    /// Add a network-scoped alias for the container (on a kiln network)
    #[arg(long, alias = "net-alias", value_name = "ALIAS")]
    network_alias: Vec<String>,
    /// Command to run to check health (run with /bin/sh -c)
    #[arg(long, value_name = "CMD")]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 30s)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 30s)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    health_timeout: Option<String>,
    /// Start period for the container to initialize before failing checks
    /// count towards unhealthy (ms|s|m|h) (default 0s)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    health_start_period: Option<String>,
    /// Consecutive failures needed to report unhealthy (default 3)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    health_retries: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    no_healthcheck: bool,
    /// Logging driver: json-file (the default), local (kept as json-file,
    /// rotating at 20m into 5 files unless told otherwise) or none
    #[arg(long, value_name = "DRIVER")]
    log_driver: Option<String>,
    /// Log driver options: max-size=SIZE, max-file=N (KEY=VALUE, comma-separated)
    #[arg(long, value_name = "KEY=VALUE")]
    log_opt: Vec<String>,
    /// Attach to STDIN, STDOUT or STDERR (repeatable; default STDOUT and STDERR)
    #[arg(short = 'a', long = "attach", value_name = "STREAM", value_parser = parse_stream)]
    attach: Vec<AttachStream>,
    /// Proxy received signals to the process (non-TTY mode only)
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    sig_proxy: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant]):
    /// the host's, or one binfmt_misc emulates
    #[arg(long, value_name = "PLATFORM")]
    pub(super) platform: Option<String>,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// IMAGE [COMMAND [ARG...]], or COMMAND [ARG...] with --rootfs. Once
    /// the image is read the rest is the command's, flags and all; a flag
    /// before it is run's, and an unknown one is refused.
    #[arg(trailing_var_arg = true, value_name = "IMAGE|CMD")]
    args: Vec<String>,
}

impl RunArgs {
    /// What the engine is asked for: the flags, with the positional words
    /// split into image and command unless `--rootfs` stands for the image.
    /// Fails only when a `--label-file` cannot be read.
    pub(super) fn options(&self) -> anyhow::Result<CreateOptions> {
        // Docker's client puts --link on the network named by --network,
        // which must then be a user network; the default one is no flag.
        let builtin = ["none", "host", "bridge", "default"];
        if !self.link.is_empty() && builtin.contains(&self.network.as_str()) {
            anyhow::bail!("links are only supported for user-defined networks");
        }
        let (image, command) = match (&self.rootfs, self.args.split_first()) {
            (None, Some((image, command))) => (Some(image.clone()), command.to_vec()),
            _ => (None, self.args.clone()),
        };
        let (volumes, tmpfs) =
            kiln_engine::container::with_mount_flags(&self.volume, &self.tmpfs, &self.mount)?;
        Ok(CreateOptions {
            image,
            rootfs: self.rootfs.clone(),
            command,
            entrypoint: self.entrypoint.clone(),
            env: self.env.clone(),
            env_files: self.env_file.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            limits: LimitOptions {
                memory: self.memory.clone(),
                memory_swap: self.memory_swap.clone(),
                cpus: self.cpus,
                cpu_shares: self.cpu_shares,
                pids_limit: self.pids_limit,
            },
            network: self.network.clone(),
            name: self.name.clone(),
            labels: self.labels()?,
            restart: self.restart.clone(),
            publish: self.publish.clone(),
            publish_all: self.publish_all,
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            volumes_from: self.volumes_from.clone(),
            links: self.link.clone(),
            read_only: self.read_only,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opts: self.security_opt.clone(),
            volumes,
            tmpfs,
            init: self.init,
            rm: self.rm,
            tty: self.tty,
            interactive: self.interactive(),
            runtime: match self.runtime {
                RuntimeName::Kiln => Runtime::Kiln,
                RuntimeName::Runc => Runtime::Runc,
                RuntimeName::Crun => Runtime::Crun,
            },
            add_hosts: self.add_host.clone(),
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_option.clone(),
            expose: self.expose.clone(),
            cidfile: self.cidfile.clone(),
            group_add: self.group_add.clone(),
            ulimits: self.ulimit.clone(),
            shm_size: self.shm_size.clone(),
            sysctls: self.sysctl.clone(),
            network_aliases: self.network_alias.clone(),
            health: HealthOptions {
                cmd: self.health_cmd.clone(),
                interval: self.health_interval.clone(),
                timeout: self.health_timeout.clone(),
                start_period: self.health_start_period.clone(),
                retries: self.health_retries,
                disabled: self.no_healthcheck,
            },
            pid: self.pid.clone(),
            ipc: self.ipc.clone(),
            uts: self.uts.clone(),
            devices: self.device.clone(),
            log_driver: self.log_driver.clone(),
            log_opts: self.log_opt.clone(),
            attach: self.attach_streams(),
            sig_proxy: self.sig_proxy,
            platform: self.platform.clone(),
        })
    }

    /// The `--label-file` lines (blank ones and `#` comments skipped),
    /// then `--label`, as Docker's CLI reads them.
    fn labels(&self) -> anyhow::Result<Vec<String>> {
        let mut labels = Vec::new();
        for path in &self.label_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--label-file {}", path.display()))?;
            labels.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        labels.extend(self.label.iter().cloned());
        Ok(labels)
    }

    pub(super) fn wanted(&self) -> Wanted {
        Wanted {
            tty: self.tty,
            interactive: self.interactive(),
        }
    }

    /// `-i`, or `-a STDIN`: kiln's input goes to the container.
    fn interactive(&self) -> bool {
        self.interactive || self.attach.contains(&AttachStream::Stdin)
    }

    /// The outputs shown: with no `-a`, both, as Docker's default.
    fn attach_streams(&self) -> AttachStreams {
        if self.attach.is_empty() {
            return AttachStreams::default();
        }
        AttachStreams {
            stdout: self.attach.contains(&AttachStream::Stdout),
            stderr: self.attach.contains(&AttachStream::Stderr),
        }
    }

    /// Docker's CLI refuses `-a` with `-d` before anything is made.
    pub(super) fn conflicts(&self) -> Option<&'static str> {
        (self.detach && !self.attach.is_empty()).then_some("Conflicting options: -a and -d")
    }
}

/// A stream `-a` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachStream {
    Stdin,
    Stdout,
    Stderr,
}

/// `-a`'s value, in any case, as Docker's CLI reads it.
fn parse_stream(text: &str) -> Result<AttachStream, String> {
    match text.to_ascii_lowercase().as_str() {
        "stdin" => Ok(AttachStream::Stdin),
        "stdout" => Ok(AttachStream::Stdout),
        "stderr" => Ok(AttachStream::Stderr),
        _ => Err("valid streams are STDIN, STDOUT and STDERR".into()),
    }
}

/// A boolean flag's value as Go's `strconv.ParseBool` reads it.
fn parse_go_bool(text: &str) -> Result<bool, String> {
    kiln_cache::units::parse_go_bool(text).ok_or_else(|| "not a boolean (true or false)".into())
}

/// A flag value that cannot be used: printed, and Docker's exit status
/// for it (125).
pub(super) fn usage_error(err: &anyhow::Error) -> std::process::ExitCode {
    crate::error_text::print(err);
    std::process::ExitCode::from(125)
}
