//! `run` and `create`: Docker's flags become a runtime [`Config`] and a
//! container [`Record`]; the image (from the store) or `--rootfs` directory
//! becomes a [`Rootfs`]. `run` without `-d` runs in the foreground; with
//! `-d` (and `start`), the container's monitor takes over.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use kiln_runtime::container::state::{self, Container, Status};
use kiln_runtime::container::wiring::Wiring;
use kiln_runtime::container::{self, bundle, foreground, Error as RunError, Gate, Spawned};
use kiln_runtime::oci_spec::runtime::LinuxSeccomp;
use kiln_runtime::spec::{parse_bytes, Bind, Config, Init, Limits, Network, Seccomp};
use kiln_runtime::{Outcome, Request, Rootfs, Stdio};

use super::early_helper::{self, Wanted};
use crate::globals::Globals;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeName {
    Kiln,
    Crun,
    Runc,
}

#[derive(clap::Args)]
pub struct RunArgs {
    // Fields are read by the sibling `create` module too.
    /// Remove the container when it exits
    #[arg(long)]
    pub(super) rm: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    pub(super) interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub(super) tty: bool,
    /// Set environment variables (K=V, or K to copy it from here)
    #[arg(short, long = "env", value_name = "K=V")]
    pub(super) env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long, value_name = "FILE")]
    pub(super) env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub(super) workdir: Option<String>,
    /// Username or UID (name|uid[:group|gid])
    #[arg(short, long)]
    pub(super) user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub(super) hostname: Option<String>,
    /// Overwrite the image's ENTRYPOINT
    #[arg(long)]
    pub(super) entrypoint: Option<String>,
    /// Memory limit (e.g. 64m)
    #[arg(short, long)]
    pub(super) memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub(super) memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub(super) cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub(super) cpu_shares: Option<u64>,
    /// Tune the container's pids limit (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub(super) pids_limit: Option<i64>,
    /// Network: private (own namespace, outbound via slirp4netns), none
    /// (only lo), host, or the name of a `kiln network`
    #[arg(long, alias = "net", default_value = "private")]
    pub(super) network: String,
    /// Run in the background and print the container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Set metadata on the container (K=V, or K for an empty value)
    #[arg(short, long = "label", value_name = "K=V")]
    pub(super) label: Vec<String>,
    /// Restart policy: no, always, on-failure[:N], unless-stopped
    #[arg(long, default_value = "no")]
    pub(super) restart: String,
    /// Publish a container's port: [IP:][HOSTPORT:]CTRPORT[/tcp|udp]
    #[arg(short, long = "publish")]
    pub(super) publish: Vec<String>,
    /// Publish every EXPOSEd port to a free host port
    #[arg(short = 'P', long)]
    pub(super) publish_all: bool,
    /// Signal to stop the container (default: the image's STOPSIGNAL or SIGTERM)
    #[arg(long)]
    pub(super) stop_signal: Option<String>,
    /// Seconds to wait before killing the container on stop
    #[arg(long)]
    pub(super) stop_timeout: Option<u64>,
    /// Mount the volumes of another container (C[:ro|rw])
    #[arg(long)]
    pub(super) volumes_from: Vec<String>,
    /// Add a link to another container (C[:ALIAS])
    #[arg(long)]
    pub(super) link: Vec<String>,
    /// Mount the container's root filesystem read-only
    #[arg(long)]
    pub(super) read_only: bool,
    /// Add Linux capabilities
    #[arg(long)]
    pub(super) cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub(super) cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub(super) privileged: bool,
    /// Security options: no-new-privileges, seccomp=unconfined|FILE.json
    #[arg(long)]
    pub(super) security_opt: Vec<String>,
    /// Mount a volume: /ctr (anonymous), NAME:/ctr or /host:/ctr, [:ro]
    #[arg(short, long)]
    pub(super) volume: Vec<String>,
    /// Mount a tmpfs directory (DST[:OPTIONS])
    #[arg(long)]
    pub(super) tmpfs: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub(super) init: bool,
    /// Runtime to use: kiln's own, or an OCI runtime given a bundle
    #[arg(long, value_enum, default_value = "kiln")]
    pub(super) runtime: RuntimeName,
    /// Run this directory as the root filesystem instead of an image
    #[arg(long, value_name = "DIR")]
    pub(super) rootfs: Option<PathBuf>,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// IMAGE [COMMAND [ARG...]], or COMMAND [ARG...] with --rootfs
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE|CMD"
    )]
    pub(super) args: Vec<String>,
}

/// Docker's exit status when the container could not be created or started.
const SETUP_FAILED: u8 = 125;

/// What an image contributes: Docker's Entrypoint, Cmd, Env, WorkingDir,
/// User, and for containers StopSignal, Volumes and ExposedPorts.
#[derive(Default)]
pub(super) struct ImageConfig {
    pub(super) entrypoint: Vec<String>,
    pub(super) cmd: Vec<String>,
    pub(super) env: Vec<String>,
    pub(super) workdir: String,
    pub(super) user: String,
    pub(super) stop_signal: String,
    pub(super) volumes: Vec<String>,
    pub(super) exposed: Vec<String>,
    pub(super) labels: serde_json::Map<String, serde_json::Value>,
    pub(super) id: String,
    pub(super) lowers: Vec<PathBuf>,
}

pub fn run(args: RunArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    if args.detach {
        return super::create::run_detached(args, globals);
    }
    // A bare `--rootfs` run (a build step's twin, and the latency
    // benchmark) stays unrecorded; anything a user may name, publish or
    // network later gets a container record, as Docker's foreground runs do.
    let recorded = args.runtime == RuntimeName::Kiln
        && (args.rootfs.is_none()
            || args.name.is_some()
            || !args.publish.is_empty()
            || !matches!(args.network.as_str(), "none" | "host" | "private"));
    // The init helper was most likely started before parsing (see
    // early_helper); if not, it starts now, while the spec is made.
    let helper = match args.runtime {
        RuntimeName::Kiln => match early_helper::take(wanted(&args)) {
            Some(h) => Some(h),
            None => Some(container::spawn(stdio_of(&args))?),
        },
        _ => None,
    };
    if recorded {
        return run_recorded(&args, globals, helper);
    }
    let id = new_id()?;
    let dir = globals.root.join("containers").join(&id);
    let result = run_in(&args, globals, &id, &dir, helper);
    if args.rm {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(outcome) => Ok(report(outcome)),
        Err(err) => Ok(report_error(err)),
    }
}

fn run_recorded(
    args: &RunArgs,
    globals: &Globals,
    helper: Option<Spawned>,
) -> anyhow::Result<ExitCode> {
    let c = match super::create::make(args, globals) {
        Ok(c) => c,
        Err(e) => return Ok(report_error(e)),
    };
    let result = foreground_recorded(args, globals, &c, helper);
    if args.rm {
        let _ = kiln_runtime::container::lifecycle::remove_files(&c, true);
    }
    match result {
        Ok(outcome) => Ok(report(outcome)),
        Err(err) => Ok(report_error(err)),
    }
}

/// The foreground run of a recorded container: this process is its
/// monitor (it holds the lock and writes the state).
fn foreground_recorded(
    args: &RunArgs,
    globals: &Globals,
    c: &Container,
    helper: Option<Spawned>,
) -> anyhow::Result<Outcome> {
    let _lock = state::hold_monitor_lock(&c.dir)?;
    let (mut wiring, bound) = Wiring::new(&c.record, &globals.root).map_err(anyhow::Error::msg)?;
    c.update(|s| {
        s.status = Status::Running;
        s.monitor_pid = std::process::id() as i32;
        s.ports = bound;
        s.started_at = Some(state::now());
    })?;
    let req = Request {
        id: c.record.id.clone(),
        spec: c.record.spec.clone(),
        rootfs: c.record.rootfs.clone(),
        stdio: stdio_of(args),
    };
    let needs = wiring.needs_gate();
    let result = {
        let dir = c.dir.clone();
        let mut gate = |pid: u32| {
            wiring.wire(pid)?;
            let ip = wiring.ip.clone();
            state::update_state(&dir, |s| {
                s.pid = pid as i32;
                s.ip = ip;
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        let gate: Option<Gate> = if needs { Some(&mut gate) } else { None };
        match helper {
            Some(h) => foreground::run_spawned(h, req, args.interactive, gate),
            None => foreground::run_with(req, args.interactive, gate),
        }
    };
    wiring.unwire();
    let code = result
        .as_ref()
        .map(|o| o.exit_code() as i32)
        .unwrap_or(SETUP_FAILED as i32);
    c.update(|s| {
        s.status = Status::Exited;
        s.pid = 0;
        s.exit_code = code;
        s.finished_at = Some(state::now());
        if let Ok(o) = &result {
            s.oom_killed = o.oom_killed;
        }
    })?;
    Ok(result?)
}

fn wanted(args: &RunArgs) -> Wanted {
    Wanted {
        tty: args.tty,
        interactive: args.interactive,
    }
}

fn stdio_of(args: &RunArgs) -> Stdio {
    wanted(args).stdio()
}

fn report(outcome: Outcome) -> ExitCode {
    if outcome.oom_killed {
        eprintln!("kiln: the container was killed by the kernel: out of memory (OOMKilled)");
    }
    ExitCode::from(outcome.exit_code())
}

/// Docker's codes: 126/127 when the command cannot run, 125 otherwise.
fn report_error(err: anyhow::Error) -> ExitCode {
    eprintln!("kiln: error: {err:#}");
    let exec = err.downcast_ref::<RunError>().and_then(|e| match e {
        RunError::Exec(x) => Some(x.exit_code()),
        _ => None,
    });
    ExitCode::from(exec.unwrap_or(SETUP_FAILED))
}

fn run_in(
    args: &RunArgs,
    globals: &Globals,
    id: &str,
    dir: &Path,
    helper: Option<Spawned>,
) -> anyhow::Result<Outcome> {
    let (rootfs, image, cmd) = resolve_rootfs(args, globals, dir)?;
    let mut config = build_config(args, &rootfs, &image, cmd)?;
    let extra = super::create::mounts(args, globals, &image, id)?;
    config.binds.extend(extra.binds);
    let spec = config.to_spec(id)?;
    let req = Request {
        id: id.to_string(),
        spec,
        rootfs,
        stdio: stdio_of(args),
    };
    let outcome = match (args.runtime, helper) {
        (RuntimeName::Kiln, Some(h)) => foreground::run_spawned(h, req, args.interactive, None)?,
        (RuntimeName::Kiln, None) => foreground::run(req, args.interactive)?,
        (RuntimeName::Runc, _) => bundle::run(bundle::OciRuntime::Runc, req, &dir.join("bundle"))?,
        (RuntimeName::Crun, _) => bundle::run(bundle::OciRuntime::Crun, req, &dir.join("bundle"))?,
    };
    Ok(outcome)
}

/// The rootfs, the image's config and the command words after the image.
pub(super) fn resolve_rootfs(
    args: &RunArgs,
    globals: &Globals,
    dir: &Path,
) -> anyhow::Result<(Rootfs, ImageConfig, Vec<String>)> {
    if let Some(root) = &args.rootfs {
        if !root.is_dir() {
            bail!("--rootfs {}: not a directory", root.display());
        }
        return Ok((
            Rootfs::Dir(root.clone()),
            ImageConfig::default(),
            args.args.clone(),
        ));
    }
    let Some((image, cmd)) = args.args.split_first() else {
        bail!("\"kiln run\" requires an IMAGE (or --rootfs DIR)");
    };
    let store = kiln_cache::store::Store::open(&globals.root).context("opening the store")?;
    let entry = store.resolve_image(image)?;
    let mut config = parse_image_config(&store.image_config(&entry.image)?)?;
    let mut lowers = store.image_layer_dirs(&entry.image);
    lowers.reverse();
    config.id = entry.image.id().to_string();
    config.lowers = lowers.clone();
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    // The container's directory is root's alone, as Docker's
    // containers/<id>: its upper holds what the container wrote.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    for d in [&upper, &work] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    Ok((
        Rootfs::Overlay {
            lowers,
            upper,
            work,
            volatile: args.rm,
        },
        config,
        cmd.to_vec(),
    ))
}

fn parse_image_config(bytes: &[u8]) -> anyhow::Result<ImageConfig> {
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).context("reading the image config")?;
    let c = &doc["config"];
    let words = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    Ok(ImageConfig {
        entrypoint: words(&c["Entrypoint"]),
        cmd: words(&c["Cmd"]),
        env: words(&c["Env"]),
        workdir: text(&c["WorkingDir"]),
        user: text(&c["User"]),
        stop_signal: text(&c["StopSignal"]),
        volumes: keys(&c["Volumes"]),
        exposed: keys(&c["ExposedPorts"]),
        labels: c["Labels"].as_object().cloned().unwrap_or_default(),
        id: String::new(),
        lowers: Vec::new(),
    })
}

/// Docker's rule: `--entrypoint` replaces the image's and drops its Cmd;
/// command words after the image replace Cmd.
fn command(args: &RunArgs, image: &ImageConfig, cmd: Vec<String>) -> anyhow::Result<Vec<String>> {
    let (entrypoint, image_cmd) = match &args.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (image.entrypoint.clone(), image.cmd.clone()),
    };
    let cmd = if cmd.is_empty() { image_cmd } else { cmd };
    let all: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if all.is_empty() {
        bail!("no command specified");
    }
    Ok(all)
}

pub(super) fn build_config(
    args: &RunArgs,
    rootfs: &Rootfs,
    image: &ImageConfig,
    cmd: Vec<String>,
) -> anyhow::Result<Config> {
    let user = args.user.clone().unwrap_or_else(|| image.user.clone());
    let workdir = args
        .workdir
        .clone()
        .unwrap_or_else(|| image.workdir.clone());
    let (no_new_privileges, seccomp) = security_options(&args.security_opt)?;
    Ok(Config {
        args: command(args, image, cmd)?,
        env: environment(args, image)?,
        cwd: if workdir.is_empty() {
            "/".into()
        } else {
            workdir
        },
        user: kiln_runtime::resolve_user(rootfs, &user)?,
        hostname: args.hostname.clone(),
        network: match args.network.as_str() {
            "none" => Network::None,
            "host" => Network::Host,
            _ => Network::Private,
        },
        read_only: args.read_only,
        privileged: args.privileged,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        no_new_privileges,
        seccomp,
        binds: Vec::new(),
        tmpfs: args.tmpfs.clone(),
        limits: limits(args)?,
        terminal: args.tty,
        console_size: args
            .tty
            .then(kiln_runtime::container::terminal::caller_size)
            .flatten(),
        init: init(args),
    })
}

fn init(args: &RunArgs) -> Init {
    // Debian's tini-static, as Docker ships tini as docker-init.
    let tini = Path::new("/usr/bin/tini-static");
    match (args.init, tini.exists()) {
        (false, _) => Init::None,
        (true, true) => Init::Binary(tini.to_path_buf()),
        (true, false) => Init::Reaper,
    }
}

fn limits(args: &RunArgs) -> anyhow::Result<Limits> {
    let bytes = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        match v.as_deref() {
            None => Ok(None),
            Some("-1") => Ok(Some(-1)),
            Some(s) => parse_bytes(s)
                .map(Some)
                .with_context(|| format!("invalid {flag} value {s:?}")),
        }
    };
    let memory = bytes("--memory", &args.memory)?;
    let memory_swap = bytes("--memory-swap", &args.memory_swap)?;
    if memory_swap.is_some() && memory.is_none() {
        bail!("you should always set the memory limit when using the memory swap limit");
    }
    if let Some(c) = args.cpus {
        if c.is_nan() || c <= 0.0 {
            bail!("invalid --cpus value {c}: must be positive");
        }
    }
    Ok(Limits {
        memory,
        memory_swap,
        cpus: args.cpus,
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit,
    })
}

/// Image Env, then --env-file, then -e, later entries replacing earlier.
fn environment(args: &RunArgs, image: &ImageConfig) -> anyhow::Result<Vec<String>> {
    let mut env: Vec<String> = image.env.clone();
    let mut entries = Vec::new();
    for file in &args.env_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        entries.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    entries.extend(args.env.iter().cloned());
    for entry in entries {
        let item = match entry.split_once('=') {
            Some(_) => entry,
            // `-e NAME` copies NAME from kiln's environment, or is dropped.
            None => match std::env::var(&entry) {
                Ok(v) => format!("{entry}={v}"),
                Err(_) => continue,
            },
        };
        let key = item.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(item);
    }
    Ok(env)
}

pub(super) fn parse_bind(spec: &str) -> anyhow::Result<Bind> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => bail!("invalid volume specification {spec:?}: use SRC:DST[:ro]"),
    };
    if !src.starts_with('/') {
        bail!("invalid bind {spec:?}: the host path must be absolute");
    }
    if !dst.starts_with('/') {
        bail!("invalid volume {spec:?}: the container path must be absolute");
    }
    let read_only = match mode {
        "" | "rw" => false,
        "ro" => true,
        m => bail!("invalid volume mode {m:?} in {spec:?}"),
    };
    // Docker creates a missing host directory for a bind.
    std::fs::create_dir_all(src).ok();
    Ok(Bind {
        source: PathBuf::from(src),
        destination: dst.to_string(),
        read_only,
    })
}

/// `no-new-privileges[=true|false|:true]`, `seccomp=unconfined|FILE`.
fn security_options(opts: &[String]) -> anyhow::Result<(bool, Seccomp)> {
    let mut nnp = false;
    let mut seccomp = Seccomp::Default;
    for opt in opts {
        let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("no-new-privileges", "" | "true") => nnp = true,
            ("no-new-privileges", "false") => nnp = false,
            ("seccomp", "unconfined") => seccomp = Seccomp::Unconfined,
            ("seccomp", file) if !file.is_empty() => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading seccomp profile {file}"))?;
                let profile: LinuxSeccomp = serde_json::from_str(&text)
                    .with_context(|| format!("parsing seccomp profile {file}"))?;
                seccomp = Seccomp::Profile(Box::new(profile));
            }
            _ => bail!("unsupported --security-opt {opt:?}"),
        }
    }
    Ok((nnp, seccomp))
}

/// A 64-hex-digit container ID, as Docker's.
pub(super) fn new_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?;
    std::io::Read::read_exact(&mut f, &mut bytes).context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes() {
        let b = parse_bind("/tmp/kiln-vol-test:/data:ro").unwrap();
        assert_eq!((b.destination.as_str(), b.read_only), ("/data", true));
        assert!(parse_bind("named:/data").is_err());
        assert!(parse_bind("/a:/b:zz").is_err());
    }

    #[test]
    fn security_opts() {
        let (nnp, s) =
            security_options(&["no-new-privileges".into(), "seccomp=unconfined".into()]).unwrap();
        assert!(nnp);
        assert!(matches!(s, Seccomp::Unconfined));
        assert!(security_options(&["apparmor=x".into()]).is_err());
    }
}
