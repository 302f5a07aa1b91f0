//! `kiln build`: Docker's flags into [`BuildOptions`], progress onto stderr
//! (a printer thread per `--progress`), the image ID onto stdout. Ctrl-C
//! or SIGTERM cancels the build: running steps are killed, exit 130.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use kiln_solver::{build, BuildError, BuildOptions, Cancel, Output, Progress};

use crate::globals::Globals;
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
    /// Default network for RUN steps: default (host), host, none
    #[arg(long)]
    network: Option<String>,
    /// Do not use the cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Do not use the cache for these stages
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// Print only the image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Output destination: type=image|oci|docker[,dest=FILE]
    #[arg(short, long)]
    output: Option<String>,
    /// Progress output: auto, tty, plain, rawjson, quiet
    #[arg(long, value_enum, default_value = "auto")]
    progress: Mode,
    /// Stages to run at once (default: number of CPUs)
    #[arg(long)]
    jobs: Option<usize>,
    /// Build context directory
    #[arg(value_name = "DIR")]
    context: PathBuf,
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

fn output(spec: Option<&str>) -> anyhow::Result<Output> {
    let Some(spec) = spec else {
        return Ok(Output::Image);
    };
    let mut kind = None;
    let mut dest = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("type", t)) => kind = Some(t.to_string()),
            Some(("dest", d)) => dest = Some(PathBuf::from(d)),
            _ => bail!("--output {spec:?}: expected type=image|oci|docker[,dest=FILE]"),
        }
    }
    let need_dest =
        |d: Option<PathBuf>| d.with_context(|| format!("--output {spec:?}: dest=FILE is required"));
    match kind.as_deref() {
        Some("image") | None => Ok(Output::Image),
        Some("oci") => Ok(Output::Oci(need_dest(dest)?)),
        Some("docker") => Ok(Output::Docker(need_dest(dest)?)),
        Some(other) => bail!("--output type={other} is not supported (image, oci, docker)"),
    }
}

/// Cancels the build on SIGINT or SIGTERM.
fn watch_signals(cancel: Arc<Cancel>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            cancel.cancel();
        });
    });
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    if let Some(n) = args.network.as_deref() {
        if !matches!(n, "default" | "host" | "none") {
            bail!("--network {n:?}: expected default, host or none");
        }
    }
    let labels = args
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    let opts = BuildOptions {
        context: args.context.clone(),
        dockerfile: args.file.clone(),
        tags: args.tags.clone(),
        build_args: build_args(&args.build_args),
        target: args.target.clone(),
        labels,
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        jobs: args.jobs.unwrap_or_else(kiln_solver::default_jobs),
        output: output(args.output.as_deref())?,
        network_none: args.network.as_deref() == Some("none"),
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.parse().ok()),
    };
    if !opts.context.is_dir() {
        bail!(
            "unable to prepare context: path {:?} not found",
            opts.context
        );
    }
    let store = Arc::new(kiln_cache::Store::open(&globals.root).context("opening the store")?);
    let cancel = Arc::new(Cancel::new());
    watch_signals(cancel.clone());
    let mode = if args.quiet {
        Mode::Quiet
    } else {
        args.progress
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let printer = std::thread::spawn(move || progress::render(mode, rx));
    let result = {
        let progress = Progress::new(tx);
        build(store, &opts, &progress, cancel)
    };
    let _ = printer.join();
    match result {
        Ok(r) => {
            println!("{}", r.image.id());
            Ok(ExitCode::SUCCESS)
        }
        Err(BuildError::Cancelled) => {
            eprintln!("kiln: build cancelled");
            Ok(ExitCode::from(130))
        }
        Err(BuildError::StepFailed {
            file,
            line,
            step,
            code,
            last_good,
        }) => {
            eprintln!("kiln: error: {file}:{line}: {step}: process did not complete successfully: exit code: {code}");
            if let Some(id) = last_good {
                eprintln!("kiln: the last good step is image {id}; inspect it with: kiln run --rm -it {} sh", short(&id));
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}
