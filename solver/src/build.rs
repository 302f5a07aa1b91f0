//! One build from options to image: parse, plan, dispatch (all keys), run,
//! export. Progress goes to the caller's [`Progress`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use kiln_cache::{ImageRecord, Reference, Store};
use kiln_parser::expand::Lexer;

use crate::cancel::Cancel;
use crate::context::contenthash;
use crate::context::select::{ContextIndex, Selected};
use crate::context::stat_cache::StatCache;
use crate::context::{load_ignore_file, walk};
use crate::dispatch::{dispatch, Dispatched, Inputs};
use crate::exporter::archive::{export, ArchiveKind};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::scheduler::{execute, save_log, Executor};
use crate::variables::{platform_args, BuildArgs, Scope};
use crate::BuildError;

/// Where the result goes besides the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Only the store (`type=image`, the default).
    Image,
    Oci(PathBuf),
    Docker(PathBuf),
}

/// `kiln build`'s inputs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub context: PathBuf,
    /// Default `<context>/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    pub tags: Vec<String>,
    /// `--build-arg`s, values already taken from the environment for `K`.
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: Vec<(String, String)>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub jobs: usize,
    pub output: Output,
    /// `--network none`: RUN steps without a network unless they ask.
    pub network_none: bool,
    /// Clamp layer mtimes (SOURCE_DATE_EPOCH).
    pub source_date_epoch: Option<i64>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub image: ImageRecord,
    pub tags: Vec<Reference>,
    pub steps_run: usize,
    pub steps_cached: usize,
}

fn read_dockerfile(opts: &BuildOptions) -> Result<(String, Vec<u8>), BuildError> {
    let path = opts
        .dockerfile
        .clone()
        .unwrap_or_else(|| opts.context.join("Dockerfile"));
    let bytes = std::fs::read(&path).map_err(|source| BuildError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let name = path
        .file_name()
        .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned());
    Ok((name, bytes))
}

fn arch() -> String {
    platform_args()
        .into_iter()
        .find(|(k, _)| k == "TARGETARCH")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// The global scope: platform args, then the ARGs before the first FROM.
fn global_scope(plan: &Plan, args: &BuildArgs, lexer: &Lexer) -> Result<Scope, BuildError> {
    let mut scope = Scope::default();
    for (k, v) in platform_args() {
        scope.set(&k, v);
    }
    for ins in &plan.globals {
        if let kiln_parser::ast::InstructionKind::Arg(decls) = &ins.kind {
            for d in decls {
                let value = match args.take(&d.name) {
                    Some(v) => Some(v),
                    None => d
                        .default
                        .as_ref()
                        .map(|def| lexer.process_word(def, scope.pairs()))
                        .transpose()
                        .map_err(|e| BuildError::Instruction {
                            line: ins.span.start_line,
                            message: e.to_string(),
                        })?,
                };
                if let Some(v) = value {
                    scope.set(&d.name, v);
                }
            }
        }
    }
    Ok(scope)
}

/// The build context, walked and hashed on first use only.
struct LazyContext {
    root: PathBuf,
    dockerfile: Option<PathBuf>,
    stat_dir: PathBuf,
    state: Mutex<Option<(ContextIndex, StatCache)>>,
}

impl LazyContext {
    fn select(&self, source: &str) -> Result<(Vec<Selected>, Vec<String>), BuildError> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| BuildError::Internal("context lock poisoned"))?;
        if guard.is_none() {
            let ignore = load_ignore_file(&self.root, self.dockerfile.as_deref())?;
            let entries = walk(&self.root, &ignore.matcher)?;
            let cache = StatCache::load(&self.stat_dir, &self.root);
            *guard = Some((ContextIndex::new(&self.root, entries), cache));
        }
        let Some((index, cache)) = guard.as_mut() else {
            return Err(BuildError::Internal("context not loaded"));
        };
        let selected = index
            .select(source)
            .map_err(|e| BuildError::Source(e.to_string()))?;
        let refs: Vec<&crate::context::Entry> =
            selected.iter().flat_map(|s| s.entries.iter()).collect();
        let digests = contenthash::digests(&self.root, &refs, cache)?;
        Ok((selected, digests))
    }

    fn save(&self) {
        if let Ok(guard) = self.state.lock() {
            if let Some((_, cache)) = guard.as_ref() {
                // The stat cache only saves work; failing to write it is not an error.
                let _ = cache.save();
            }
        }
    }
}

fn locate(file: &str, e: BuildError) -> BuildError {
    match e {
        BuildError::Instruction { line, message } => BuildError::Dockerfile {
            file: file.to_string(),
            line,
            message,
        },
        other => other,
    }
}

/// Builds the image `opts` describe into `store`.
pub fn build(
    store: Arc<Store>,
    opts: &BuildOptions,
    progress: &Progress,
    cancel: Arc<Cancel>,
) -> Result<BuildResult, BuildError> {
    let (file, source) = read_dockerfile(opts)?;
    let df = kiln_parser::parse(&source).map_err(|e| BuildError::Parse {
        file: file.clone(),
        line: e.position.line,
        column: e.position.column,
        message: e.kind.to_string(),
    })?;
    for w in &df.warnings {
        progress.warn(format!("{file}:{}: {}", w.line, w.message));
    }
    let tags = opts
        .tags
        .iter()
        .map(|t| {
            Reference::parse_normalized(t).map_err(|e| BuildError::Tag(t.clone(), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let lexer = Lexer::new(df.escape);
    let build_args = BuildArgs::new(opts.build_args.clone());
    let mut plan = Plan::new(&df).map_err(|source| BuildError::Plan {
        file: file.clone(),
        source,
    })?;
    let globals = global_scope(&plan, &build_args, &lexer).map_err(|e| locate(&file, e))?;
    let target = plan
        .target(opts.target.as_deref())
        .map_err(|source| BuildError::Plan {
            file: file.clone(),
            source,
        })?;
    let needed = plan
        .needed(target, &globals)
        .map_err(|source| BuildError::Plan {
            file: file.clone(),
            source,
        })?;

    let context = LazyContext {
        root: opts.context.clone(),
        dockerfile: opts.dockerfile.clone(),
        stat_dir: store.root().join("builds").join("stat-cache"),
        state: Mutex::new(None),
    };
    let select = |s: &str| context.select(s);
    let filter: Vec<String> = opts
        .no_cache_filter
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let no_cache = |label: &str| opts.no_cache || filter.iter().any(|f| f == label);
    let created = kiln_cache::image::config::timestamp(match opts.source_date_epoch {
        Some(s) => SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s.max(0) as u64),
        None => SystemTime::now(),
    });
    let source_text = String::from_utf8_lossy(&source).into_owned();
    let inputs = Inputs {
        store: &store,
        lexer,
        build_args: &build_args,
        globals: &globals,
        context: &select,
        no_cache: &no_cache,
        created: created.clone(),
        arch: arch(),
        source: &source_text,
        network_none: opts.network_none,
    };
    let mut done: Dispatched = HashMap::new();
    for &i in &needed {
        let p = dispatch(&inputs, &plan.stages[i], &plan.stages, &done)
            .map_err(|e| locate(&file, e))?;
        done.insert(i, Arc::new(p));
    }
    context.save();
    let unused = build_args.unused();
    if !unused.is_empty() {
        progress.warn(format!(
            "one or more build-args {unused:?} were not consumed"
        ));
    }
    let target_plan = done
        .get(&target)
        .cloned()
        .ok_or(BuildError::Internal("target not dispatched"))?;
    let deps: HashMap<usize, Vec<usize>> = needed.iter().map(|&i| (i, plan.deps(i))).collect();
    let plans: Vec<_> = needed.iter().filter_map(|i| done.get(i).cloned()).collect();
    let exec = Arc::new(Executor {
        store: store.clone(),
        context: opts.context.clone(),
        dockerfile_name: file.clone(),
        progress: progress.clone(),
        cancel,
        created: created.clone(),
        source_date_epoch: opts.source_date_epoch,
        vertex: AtomicUsize::new(0),
        log: Mutex::new(Vec::new()),
    });
    let results = execute(exec.clone(), plans, deps, opts.jobs)?;
    let result = results
        .get(&target_plan.index)
        .ok_or(BuildError::Internal("target did not run"))?;
    let mut config = result.config.clone();
    for (k, v) in &opts.labels {
        config.insert_in("Labels", k, serde_json::Value::String(v.clone()));
    }
    let image = crate::exporter::image::write_image(&store, &config, &result.layers, &tags)?;
    let log = exec.log.lock().map(|l| l.clone()).unwrap_or_default();
    let _ = save_log(store.root(), &image.id().to_string(), &log);
    match &opts.output {
        Output::Image => {}
        Output::Oci(dest) => export(&store, ArchiveKind::Oci, &image, &tags, dest)?,
        Output::Docker(dest) => export(&store, ArchiveKind::Docker, &image, &tags, dest)?,
    }
    let steps_cached = log.iter().filter(|s| s.cached).count();
    Ok(BuildResult {
        image,
        tags,
        steps_run: log.len() - steps_cached,
        steps_cached,
    })
}

/// The default parallelism: one stage per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[allow(dead_code)]
fn _assert_send(_: &Path) {}
