//! `kiln build`: Docker's flags into [`BuildOptions`], progress onto stderr
//! (a printer thread per `--progress`), the image ID onto stdout. Ctrl-C
//! or SIGTERM cancels the build: running steps are killed, exit 130, in
//! every phase within [`GRACE`] (planning checks between instructions).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use kiln_solver::record::{finish_build, Recorder};
use kiln_solver::{build, BuildError, BuildOptions, BuildSession, Cancel, Progress};

use crate::globals::Globals;

mod compat;
mod graph;
mod history;
mod inputs;
mod outputs;
mod record;
mod registry;
mod timeline;
use crate::progress::{self, Mode};

#[derive(clap::Args)]
pub struct Args {
    /// Name and optionally a tag (name:tag); repeatable
    #[arg(short, long = "tag", value_name = "NAME")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: DIR/Dockerfile)
    #[arg(short, long)]
    file: Option<PathBuf>,
    /// Set a build-time variable (K=V, or K to take it from the environment)
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Set metadata for the image (K=V)
    #[arg(long = "label", value_name = "K=V")]
    labels: Vec<String>,
    /// Network for RUN steps: default (a private namespace with outbound access, the host's loopback closed), host, none
    #[arg(long)]
    network: Option<String>,
    /// Grant an entitlement: network.host lets `RUN --network=host` share the host's network
    #[arg(long = "allow", value_name = "ENTITLEMENT", value_delimiter = ',')]
    allow: Vec<String>,
    /// Do not use the cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Do not use the cache for these stages
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// Print only the image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Output destination, repeatable: type=image|local|tar|oci|docker[,dest=PATH][,compression=gzip|zstd|uncompressed][,compression-level=N][,annotation.K=V]
    #[arg(short, long = "output", value_name = "SPEC")]
    outputs: Vec<String>,
    /// Add an annotation: [manifest|manifest-descriptor|index|index-descriptor:]K=V (default: the manifest)
    #[arg(long = "annotation", value_name = "K=V")]
    annotations: Vec<String>,
    /// Write the image ID to this file
    #[arg(long, value_name = "FILE")]
    iidfile: Option<PathBuf>,
    /// Write build result metadata (BuildKit's keys) to this file
    #[arg(long = "metadata-file", value_name = "FILE")]
    metadata_file: Option<PathBuf>,
    /// Secret to expose to RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR
    #[arg(long = "secret", value_name = "SPEC")]
    secrets: Vec<String>,
    /// SSH agent socket for RUN --mount=type=ssh: default or ID=SOCKET
    #[arg(long = "ssh", value_name = "default|ID=SOCKET")]
    ssh: Vec<String>,
    /// Start every RUN --mount=type=cache empty for this build (--no-cache keeps them)
    #[arg(long)]
    no_cache_mounts: bool,
    /// Lint the Dockerfile with the build's target and stop before building
    #[arg(long)]
    check: bool,
    /// Push the image to its registry (-t names) after the build
    #[arg(long)]
    push: bool,
    /// Always ask the registry for newer versions of base images
    #[arg(long)]
    pull: bool,
    /// Cache export: type=local,dest=DIR | type=registry,ref=REF | type=inline [,mode=min|max] [,cache-mounts=true[,cache-mounts-max=SIZE]]
    #[arg(long = "cache-to", value_name = "SPEC")]
    cache_to: Vec<String>,
    /// Cache import: type=local,src=DIR | type=registry,ref=REF [,cache-mounts=true]
    #[arg(long = "cache-from", value_name = "SPEC")]
    cache_from: Vec<String>,
    /// Target platform: the host's, or another one through binfmt_misc emulation (qemu-user-static)
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    /// Progress output: auto, tty, plain, rawjson, quiet
    #[arg(long, value_enum, default_value = "auto")]
    progress: Mode,
    /// Squash newly built layers into a single new layer
    #[arg(long)]
    squash: bool,
    /// Stages to run at once (default: number of CPUs)
    #[arg(long)]
    jobs: Option<usize>,
    /// Extra named context for FROM/COPY --from/RUN --mount from: NAME=DIR|docker-image://REF|oci-layout://PATH[@TAG]
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    build_contexts: Vec<String>,
    /// Write the build's timeline when it ends: HTML page, or SVG for FILE.svg
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// Write the build as an OpenTelemetry trace (OTLP JSON) when it ends
    #[arg(long = "export-trace", value_name = "FILE")]
    export_trace: Option<PathBuf>,
    #[command(flatten)]
    compat: compat::Compat,
    /// Build context: a directory, a git URL, or - (a tar or a Dockerfile on stdin). `history ls|inspect|rm|timeline|graph|export` shows past builds instead (`kiln build history help`)
    #[arg(value_name = "DIR|URL|-")]
    context: PathBuf,
    /// What follows `history`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// `--build-arg K=V`, or `K` taken from kiln's own environment (skipped
/// when unset, as Docker does).
fn build_args(list: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for a in list {
        match a.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
        }
    }
    out
}

/// How long a cancelled build may take to wind down (kill its steps, see
/// the flag between instructions) before kiln exits anyway, so that a
/// phase that does not look at the flag (a registry pull, a large export,
/// parsing a huge file) cannot hold Ctrl-C up. The store stays sound when
/// a process dies at any instant (DESIGN.md); what it staged in tmp/ is
/// the next GC's.
const GRACE: Duration = Duration::from_millis(250);

/// Exit status of a cancelled build, for SIGINT and SIGTERM alike.
const CANCELLED: u8 = 130;

/// Set by whoever says "build cancelled" first: the build returning
/// `Cancelled`, or the watcher when the grace period runs out.
static REPORTED: AtomicBool = AtomicBool::new(false);

fn report_cancelled() {
    if !REPORTED.swap(true, Ordering::SeqCst) {
        eprintln!("kiln: build cancelled");
    }
}

/// Cancels the build on SIGINT or SIGTERM; a second signal, or the grace
/// period running out, ends the process. The handlers are in place when
/// this returns (a signal a moment later is not lost to the default
/// action, which would kill kiln without its cleanup).
fn watch_signals(cancel: Arc<Cancel>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal watcher")?;
    let (mut int, mut term) = {
        let _in_runtime = rt.enter();
        (
            signal(SignalKind::interrupt()).context("watching SIGINT")?,
            signal(SignalKind::terminate()).context("watching SIGTERM")?,
        )
    };
    std::thread::spawn(move || {
        rt.block_on(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            cancel.cancel();
            tokio::select! {
                _ = tokio::time::sleep(GRACE) => {}
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        });
        report_cancelled();
        // _exit, not exit: the main thread may be returning from main
        // (running exit handlers) at this very moment.
        // SAFETY: _exit(2) only ends the process; it touches no Rust state.
        unsafe { nix::libc::_exit(i32::from(CANCELLED)) }
    });
    Ok(())
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    if let Some(first) = args.rest.first() {
        if args.context.as_os_str() == "history" && history::WORDS.contains(&first.as_str()) {
            return history::run(&args.rest, globals);
        }
        // What clap says of a second context path.
        clap::Error::raw(
            clap::error::ErrorKind::UnknownArgument,
            format!("unexpected argument '{first}' found\n"),
        )
        .exit();
    }
    // First of all: reading a stdin or git context and planning can take
    // seconds, and Ctrl-C must stop them too.
    let cancel = Arc::new(Cancel::new());
    watch_signals(cancel.clone())?;
    args.compat.check()?;
    if let Some(n) = args.network.as_deref() {
        if !matches!(n, "default" | "host" | "none") {
            bail!("--network {n:?}: expected default, host or none");
        }
    }
    for a in &args.allow {
        match a.as_str() {
            "network.host" => {}
            "security.insecure" => bail!("--allow security.insecure: not supported by kiln"),
            other => bail!("--allow {other:?}: expected network.host"),
        }
    }
    if let Some(p) = args.platform.as_deref() {
        inputs::check_platform(p)?;
    }
    let labels = pairs(&args.labels);
    let image_output = registry::image_output(&args.outputs);
    let mut tags = args.tags.clone();
    tags.extend(image_output.names.iter().cloned());
    let parsed = outputs::parse_all(&image_output.rest, &args.annotations)?;
    // Stdin, tar and git contexts are unpacked first; `loaded` keeps them.
    let loaded = kiln_solver::context::inputs::load(
        &args.context.to_string_lossy(),
        args.file.as_deref(),
        &mut std::io::stdin(),
    )?;
    let opts = BuildOptions {
        context: loaded.dir.clone(),
        dockerfile: loaded.dockerfile.clone(),
        tags,
        build_args: build_args(&args.build_args),
        target: args.target.clone(),
        labels,
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        jobs: args.jobs.unwrap_or_else(kiln_solver::default_jobs),
        outputs: parsed.outputs,
        annotations: parsed.stored,
        secrets: inputs::secrets(&args.secrets)?,
        ssh: inputs::ssh(&args.ssh)?,
        no_cache_mounts: args.no_cache_mounts,
        network_none: args.network.as_deref() == Some("none"),
        network_host: args.network.as_deref() == Some("host"),
        allow_network_host: args.allow.iter().any(|a| a == "network.host"),
        source_date_epoch: source_date_epoch(&args.build_args),
        registry: Some(crate::config::registry_config(globals)?),
        pull: args.pull,
        platform: args
            .platform
            .as_deref()
            .and_then(|p| p.split(',').next())
            .map(kiln_cache::registry::Platform::parse)
            .transpose()?,
        push: args.push || image_output.push,
        cache_to: registry::cache_to(&args.cache_to)?,
        cache_from: registry::cache_from(&args.cache_from)?,
        named_contexts: args
            .build_contexts
            .iter()
            .map(|f| kiln_solver::context::named::parse_flag(f))
            .collect::<Result<_, _>>()?,
        squash: args.squash,
    };
    if args.check {
        return lint_only(&BuildSession::open(opts)?);
    }
    let store = Arc::new(kiln_cache::Store::open(&globals.root).context("opening the store")?);
    let mode = if args.quiet {
        Mode::Quiet
    } else {
        args.progress
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let (rx, recorder) = Recorder::new().tee(rx);
    let printer = std::thread::spawn(move || progress::render(mode, rx));
    let asked = opts.clone();
    let (session, built) = {
        let progress = Progress::new(tx);
        // Read and parsed once: the lint after the build reads the same.
        match BuildSession::open(opts) {
            Ok(session) => {
                let built = build(store.clone(), &session, &progress, cancel);
                (Some(session), built)
            }
            Err(e) => (None, Err(e)),
        }
    };
    let _ = printer.join();
    if let Ok(recorder) = recorder.join() {
        let record = finish_build(recorder, &store, &asked, session.as_ref(), &built);
        record::keep(&record, &args, globals)?;
    }
    match built {
        Ok(r) => {
            if let Some(path) = &args.iidfile {
                outputs::write_iidfile(path, &r.image)?;
            }
            if let Some(path) = &args.metadata_file {
                let names: Vec<String> = r.tags.iter().map(|t| t.to_string()).collect();
                outputs::write_metadata(path, &r.image, &names)?;
            }
            if let Some(session) = &session {
                print_lint(session, mode);
            }
            if !args
                .outputs
                .iter()
                .any(|o| o == "-" || o.contains("dest=-"))
            {
                println!("{}", r.image.id());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(BuildError::Cancelled) => {
            report_cancelled();
            Ok(ExitCode::from(CANCELLED))
        }
        Err(BuildError::StepFailed {
            file,
            line,
            step,
            code,
            last_good,
        }) => {
            let step = kiln_parser::excerpt::excerpt(&step, 500);
            eprintln!("kiln: error: {file}:{line}: {step}: process did not complete successfully: exit code: {code}");
            if let Some(id) = last_good {
                eprintln!("kiln: the last good step is image {id}; inspect it with: kiln run --rm -it {} sh", short(&id));
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// `--build-arg SOURCE_DATE_EPOCH=…` wins over the variable, as in buildx.
fn source_date_epoch(flags: &[String]) -> Option<i64> {
    let from_arg = build_args(flags).get("SOURCE_DATE_EPOCH").cloned();
    from_arg
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .and_then(|s| s.trim().parse().ok())
}

/// `K=V` flags (`K` alone is `K=`).
fn pairs(list: &[String]) -> Vec<(String, String)> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// `--check`: the lint findings on stdout; exit 1 on any (buildx fails a
/// check with warnings too).
fn lint_only(session: &BuildSession) -> anyhow::Result<ExitCode> {
    let findings = kiln_solver::lint::lint(session);
    for f in &findings {
        println!("{}", f.text);
    }
    if findings.is_empty() {
        eprintln!("Check complete, no warnings found.");
        return Ok(ExitCode::SUCCESS);
    }
    Ok(ExitCode::from(1))
}

/// After a build, its lint warnings on stderr, as BuildKit prints them.
fn print_lint(session: &BuildSession, mode: Mode) {
    if matches!(mode, Mode::Quiet) {
        return;
    }
    let findings = kiln_solver::lint::lint(session);
    if findings.is_empty() {
        return;
    }
    eprintln!(
        "\n {} warning{} found (use kiln build --check or kiln check for details):",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    for f in &findings {
        eprintln!(" - {}", f.text);
    }
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}
