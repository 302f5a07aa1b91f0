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
use crate::exporter::archive::{export, ArchiveKind, ArchiveOptions};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::scheduler::{execute, save_log, Executor};
use crate::variables::{host_platform, platform_args, BuildArgs, Scope};
use crate::BuildError;

/// Where the result goes besides the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Only the store (`type=image`, the default).
    Image,
    /// An OCI layout archive (layers gzip unless the options say otherwise).
    Oci(PathBuf, ArchiveOptions),
    /// A `docker save` archive.
    Docker(PathBuf, ArchiveOptions),
    /// `type=local,dest=DIR`: the final filesystem as files.
    Local(PathBuf),
    /// `type=tar,dest=FILE`: the final filesystem as one tar.
    Tar(PathBuf),
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
    /// Every `--output`, in order (none: the store only).
    pub outputs: Vec<Output>,
    /// `--annotation K=V`: on the image manifest.
    pub annotations: Vec<(String, String)>,
    /// `--secret`.
    pub secrets: BTreeMap<String, crate::ops::mounts::SecretSource>,
    /// `--ssh ID=SOCKET`.
    pub ssh: BTreeMap<String, PathBuf>,
    /// `--no-cache-mounts`: cache mounts start empty in this build.
    pub no_cache_mounts: bool,
    /// `--network none`: RUN steps without a network unless they ask.
    pub network_none: bool,
    /// `--network host`: RUN steps share the host's network namespace.
    pub network_host: bool,
    /// `--allow network.host`: `RUN --network=host` may share it too.
    pub allow_network_host: bool,
    /// Clamp layer mtimes (SOURCE_DATE_EPOCH).
    pub source_date_epoch: Option<i64>,
    /// Registries for FROM auto-pull, `--push` and registry caches;
    /// `None`: nothing is pulled, base images must be in the store.
    pub registry: Option<kiln_cache::registry::RegistryConfig>,
    /// `--pull`: ask the registry for base images even when stored.
    pub pull: bool,
    /// `--platform`: which image of a multi-platform base to pull.
    pub platform: Option<kiln_cache::registry::Platform>,
    /// `--push` / `type=image,push=true`: push the result to its tags.
    pub push: bool,
    pub cache_to: Vec<crate::remotecache::CacheTo>,
    pub cache_from: Vec<crate::remotecache::CacheFrom>,
    /// `--build-context NAME=…`.
    pub named_contexts: BTreeMap<String, crate::context::named::NamedContext>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub image: ImageRecord,
    pub tags: Vec<Reference>,
    pub steps_run: usize,
    pub steps_cached: usize,
}

pub(crate) fn read_dockerfile(opts: &BuildOptions) -> Result<(String, Vec<u8>), BuildError> {
    // The context may be someone else's: its symlinks resolve inside it.
    let at = crate::context::confined::anchor(&opts.context, opts.dockerfile.as_deref());
    let path = at.path();
    let bytes = crate::context::confined::read(&at.root, &at.relative).map_err(|source| {
        BuildError::Read {
            path: path.display().to_string(),
            source,
        }
    })?;
    let name = path
        .file_name()
        .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned());
    Ok((name, bytes))
}

/// The architecture images are made for: `--platform`'s, else the host's.
fn arch(platform: Option<&kiln_cache::registry::Platform>) -> String {
    if let Some(p) = platform {
        return p.architecture.clone();
    }
    host_platform().architecture
}

/// The global scope: platform args, then the ARGs before the first FROM.
fn global_scope(
    plan: &Plan,
    args: &BuildArgs,
    lexer: &Lexer,
    platform: Option<&kiln_cache::registry::Platform>,
) -> Result<Scope, BuildError> {
    let mut scope = Scope::default();
    for (k, v) in platform_args(platform) {
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
                        .map(|def| lexer.process_word(def, &scope))
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
        message: e.message(),
    })?;
    cancel.checkpoint()?;
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
    // BuildKit consumes SOURCE_DATE_EPOCH itself: no "not consumed" warning.
    let _ = build_args.take("SOURCE_DATE_EPOCH");
    let mut plan = Plan::new(&df).map_err(|source| BuildError::Plan {
        file: file.clone(),
        source,
    })?;
    // The plan holds its own copy of every instruction: the AST would
    // only add to the peak of a huge file.
    drop(df);
    let globals = global_scope(&plan, &build_args, &lexer, opts.platform.as_ref())
        .map_err(|e| locate(&file, e))?;
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
    cancel.checkpoint()?;
    let vertex = AtomicUsize::new(0);
    if let Some(registry) = &opts.registry {
        let names = crate::pull::base_images(
            &plan.stages,
            &needed,
            &globals,
            &lexer,
            opts.platform.as_ref(),
        )
        .map_err(|e| locate(&file, e))?;
        let names = crate::context::named::pull_names(names, &opts.named_contexts);
        let settings = crate::pull::PullSettings {
            registry,
            always: opts.pull,
            platform: opts.platform.as_ref(),
        };
        crate::pull::pull_missing(&store, &names, &settings, progress, &vertex)?;
    }

    let named = crate::context::named::load_all(
        &store,
        &opts.named_contexts,
        &arch(opts.platform.as_ref()),
    )
    .map_err(|e| BuildError::Source(e.to_string()))?;
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
        platform: opts.platform.as_ref(),
        source: &source_text,
        network_none: opts.network_none,
        network_host: opts.network_host,
        allow_network_host: opts.allow_network_host,
        named: &named,
        cancel: &cancel,
    };
    let mut done: Dispatched = HashMap::new();
    for &i in &needed {
        let p = dispatch(&inputs, &plan.stages[i], &plan.stages, &done)
            .map_err(|e| locate(&file, e))?;
        done.insert(i, Arc::new(p));
    }
    plan.release_instructions();
    context.save();
    cancel.checkpoint()?;
    let unused = build_args.unused();
    if !unused.is_empty() {
        progress.warn(format!(
            "one or more build-args {unused:?} were not consumed"
        ));
    }
    let configs = crate::scheduler::take_configs(&mut done);
    let target_plan = done
        .get(&target)
        .cloned()
        .ok_or(BuildError::Internal("target not dispatched"))?;
    let deps: HashMap<usize, Vec<usize>> = needed.iter().map(|&i| (i, plan.deps(i))).collect();
    let plans: Vec<_> = needed.iter().filter_map(|i| done.get(i).cloned()).collect();
    let default_registry = kiln_cache::registry::RegistryConfig::default();
    let registry = opts.registry.as_ref().unwrap_or(&default_registry);
    let caches = crate::remotecache::import::load_all(
        &opts.cache_from,
        registry,
        opts.platform.as_ref(),
        progress,
        &vertex,
    );
    let (plans, deps) = crate::remotecache::import::skip_stages(
        &store, &caches, &done, plans, deps, target, progress, &vertex,
    )?;
    let exec = Arc::new(Executor {
        store: store.clone(),
        context: opts.context.clone(),
        dockerfile_name: file.clone(),
        progress: progress.clone(),
        cancel,
        created: created.clone(),
        source_date_epoch: opts.source_date_epoch,
        vertex: AtomicUsize::new(vertex.load(std::sync::atomic::Ordering::SeqCst)),
        log: Mutex::new(Vec::new()),
        lookups: Default::default(),
        mounts: crate::ops::mounts::MountInputs {
            secrets: opts.secrets.clone(),
            ssh: opts.ssh.clone(),
            no_cache_mounts: opts.no_cache_mounts,
            emptied: Mutex::new(Default::default()),
            context_ignore: load_ignore_file(&opts.context, opts.dockerfile.as_deref())?.matcher,
        },
    });
    let mut results = execute(exec.clone(), plans, deps, configs, opts.jobs)?;
    let result = results
        .remove(&target_plan.index)
        .ok_or(BuildError::Internal("target did not run"))?;
    drop(results);
    // The target's config is taken, not copied (see `take_configs`).
    let result = Arc::try_unwrap(result).unwrap_or_else(|shared| (*shared).clone());
    let mut config = result.config;
    for (k, v) in &opts.labels {
        config.insert_in("Labels", k, serde_json::Value::String(v.clone()));
    }
    let fully_cached = exec
        .log
        .lock()
        .map(|l| l.iter().all(|s| s.cached))
        .unwrap_or(false);
    let created = crate::remotecache::finish_config(
        &store,
        &mut config,
        &caches,
        &done,
        target,
        &created,
        fully_cached,
        &opts.cache_to,
    )?;
    let image = crate::exporter::image::write_image_annotated(
        &store,
        &config,
        &result.layers,
        &tags,
        &opts.annotations,
    )?;
    let log = exec.log.lock().map(|l| l.clone()).unwrap_or_default();
    let _ = save_log(store.root(), &image.id().to_string(), &log);
    let _ = crate::why::history::record(
        store.root(),
        opts,
        &done,
        target,
        &image.id().to_string(),
        &log,
    );
    for output in &opts.outputs {
        match output {
            Output::Image => {}
            Output::Oci(dest, o) => export(&store, ArchiveKind::Oci, &image, &tags, dest, o)?,
            Output::Docker(dest, o) => export(&store, ArchiveKind::Docker, &image, &tags, dest, o)?,
            Output::Local(dest) => crate::exporter::local::write_dir(&store, &result.layers, dest)?,
            Output::Tar(dest) => crate::exporter::local::write_tar(&store, &result.layers, dest)?,
        }
    }
    crate::remotecache::export_all(
        &store,
        &opts.cache_to,
        &done,
        target,
        &created,
        opts.registry.as_ref(),
        progress,
        &exec.vertex,
    )?;
    if opts.push {
        crate::exporter::push::push_image(&store, &image, &tags, registry, progress, &exec.vertex)?;
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
