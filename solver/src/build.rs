//! One build from a [`BuildSession`] to an image: plan, pull the bases,
//! dispatch (every key), import caches, run, write the image, deliver it
//! (outputs, cache export, push). Progress goes to the caller's
//! [`Progress`].

mod lazy_context;
mod options;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use kiln_cache::image::ImageConfig;
use kiln_cache::{ImageRecord, LayerRecord, Reference, Store};
use kiln_parser::expand::Lexer;

use crate::cancel::Cancel;
use crate::dispatch::{dispatch, Base, Dispatched, Inputs};
use crate::exporter::archive::{export, ArchiveKind};
use crate::ops::mounts::MountInputs;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::remotecache::import::{self, Loaded, Schedule};
use crate::remotecache::{CacheScope, ExportTarget};
use crate::scheduler::{execute, save_log, Executor, StepLog};
use crate::session::BuildSession;
use crate::stage_layer::{self, StageLayer};
use crate::variables::{host_platform, platform_args, BuildArgs, Scope};
use crate::BuildError;
use lazy_context::LazyContext;

pub use options::{BuildOptions, BuildResult, Output};

/// Builds the image `session` describes into `store`.
pub fn build(
    store: Arc<Store>,
    session: &BuildSession,
    progress: &Progress,
    cancel: Arc<Cancel>,
) -> Result<BuildResult, BuildError> {
    let opts = session.options();
    cancel.checkpoint()?;
    warn_parse(session, progress);
    let tags = parse_tags(&opts.tags)?;
    let mut planned = plan(session)?;
    cancel.checkpoint()?;
    let vertex = AtomicUsize::new(0);
    pull_bases(&store, session, &planned, progress, &vertex)?;
    let created = created_time(opts.source_date_epoch);
    let mut done = dispatch_stages(&store, session, &mut planned, &created, &cancel)?;
    warn_unused(&planned.build_args, progress);
    let configs = crate::scheduler::take_configs(&mut done);
    let caches = import_caches(opts, progress, &vertex);
    let scope = CacheScope {
        store: &store,
        plans: &done,
        target: planned.target,
        imported: &caches,
    };
    let schedule = import::skip_stages(&scope, stages_to_run(&planned, &done)?, progress, &vertex)?;
    let vertex = vertex.into_inner();
    let in_image = image_stages(&done, planned.target, opts.squash);
    let exec = executor(
        &store, session, progress, cancel, &created, vertex, in_image,
    )?;
    let ran = run_target(&exec, schedule, configs, planned.target, opts.jobs)?;
    let made = store_image(&scope, opts, ran, tags, &created)?;
    remember(&store, opts, &done, planned.target, &made.image, &made.log);
    deliver(&scope, opts, &made, progress, &exec.vertex)?;
    let steps_cached = made.log.iter().filter(|s| s.cached).count();
    Ok(BuildResult {
        steps_run: made.log.len() - steps_cached,
        steps_cached,
        image: made.image,
        tags: made.tags,
    })
}

/// What planning made of the Dockerfile: its stages, the global scope,
/// the target and the stages the target needs.
struct Planned {
    plan: Plan,
    lexer: Lexer,
    build_args: BuildArgs,
    globals: Scope,
    target: usize,
    needed: Vec<usize>,
}

/// The parser's warnings (empty continuation lines and such), first.
fn warn_parse(session: &BuildSession, progress: &Progress) {
    for w in &session.dockerfile().warnings {
        progress.warn(format!("{}:{}: {}", session.file(), w.line, w.message));
    }
}

fn parse_tags(tags: &[String]) -> Result<Vec<Reference>, BuildError> {
    tags.iter()
        .map(|t| {
            Reference::parse_normalized(t).map_err(|source| BuildError::Tag {
                tag: t.clone(),
                source,
            })
        })
        .collect()
}

/// The stages, the global scope, the target stage and what it needs.
fn plan(session: &BuildSession) -> Result<Planned, BuildError> {
    let opts = session.options();
    let file = session.file();
    let in_file = |source| BuildError::Plan {
        file: file.to_string(),
        source,
    };
    let lexer = Lexer::new(session.dockerfile().escape);
    let build_args = BuildArgs::new(opts.build_args.clone());
    // BuildKit consumes SOURCE_DATE_EPOCH itself: no "not consumed" warning.
    let _ = build_args.take("SOURCE_DATE_EPOCH");
    let mut plan = Plan::new(session.dockerfile()).map_err(in_file)?;
    let globals = global_scope(&plan, &build_args, &lexer, opts.platform.as_ref())
        .map_err(|e| locate(file, e))?;
    let target = plan.target(opts.target.as_deref()).map_err(in_file)?;
    let needed = plan.needed(target, &globals).map_err(in_file)?;
    Ok(Planned {
        plan,
        lexer,
        build_args,
        globals,
        target,
        needed,
    })
}

/// FROM auto-pull: the base images of the needed stages that the store
/// lacks (all of them with `--pull`). Without a registry nothing is pulled.
fn pull_bases(
    store: &Store,
    session: &BuildSession,
    planned: &Planned,
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Result<(), BuildError> {
    let opts = session.options();
    let Some(registry) = &opts.registry else {
        return Ok(());
    };
    let stages = &planned.plan.stages;
    let platform = opts.platform.as_ref();
    let names = crate::pull::base_images(
        stages,
        &planned.needed,
        &planned.globals,
        &planned.lexer,
        platform,
    )
    .map_err(|e| locate(session.file(), e))?;
    let names = crate::context::named::pull_names(names, &opts.named_contexts);
    let settings = crate::pull::PullSettings {
        registry,
        always: opts.pull,
        platform,
    };
    crate::pull::pull_missing(store, &names, &settings, progress, vertex)
}

/// The `created` time of this build's image and history:
/// SOURCE_DATE_EPOCH's, else now.
fn created_time(source_date_epoch: Option<i64>) -> String {
    kiln_cache::image::config::timestamp(match source_date_epoch {
        Some(s) => SystemTime::UNIX_EPOCH + Duration::from_secs(s.max(0) as u64),
        None => SystemTime::now(),
    })
}

/// Whether `--no-cache` or `--no-cache-filter` covers the stage `label`.
fn no_cache(opts: &BuildOptions) -> impl Fn(&str) -> bool + '_ {
    let filter: Vec<String> = opts
        .no_cache_filter
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    move |label| opts.no_cache || filter.iter().any(|f| f == label)
}

/// Every needed stage into steps with their keys, before anything runs.
/// The plan's instructions are released afterwards (see `Plan`).
fn dispatch_stages(
    store: &Store,
    session: &BuildSession,
    planned: &mut Planned,
    created: &str,
    cancel: &Cancel,
) -> Result<Dispatched, BuildError> {
    let opts = session.options();
    let arch = arch(opts.platform.as_ref());
    let named = crate::context::named::load_all(store, &opts.named_contexts, &arch)?;
    let context = LazyContext::new(session, store.root().join("builds").join("stat-cache"));
    let source = String::from_utf8_lossy(session.source());
    let inputs = Inputs {
        store,
        lexer: planned.lexer,
        build_args: &planned.build_args,
        globals: &planned.globals,
        context: &|s: &str| context.select(s),
        no_cache: &no_cache(opts),
        created: created.to_string(),
        platform: opts.platform.as_ref(),
        source: &source,
        network_none: opts.network_none,
        network_host: opts.network_host,
        allow_network_host: opts.allow_network_host,
        named: &named,
        cancel,
    };
    let stages = &planned.plan.stages;
    let mut done = Dispatched::new();
    for &i in &planned.needed {
        let p =
            dispatch(&inputs, &stages[i], stages, &done).map_err(|e| locate(session.file(), e))?;
        done.insert(i, Arc::new(p));
    }
    planned.plan.release_instructions();
    context.save();
    cancel.checkpoint()?;
    Ok(done)
}

/// `--build-arg`s no needed stage declared, as BuildKit warns of them.
fn warn_unused(build_args: &BuildArgs, progress: &Progress) {
    let unused = build_args.unused();
    if !unused.is_empty() {
        progress.warn(format!(
            "one or more build-args {unused:?} were not consumed"
        ));
    }
}

/// The needed stages' plans and what each waits for.
fn stages_to_run(planned: &Planned, done: &Dispatched) -> Result<Schedule, BuildError> {
    if !done.contains_key(&planned.target) {
        return Err(BuildError::Internal("target not dispatched"));
    }
    let needed = &planned.needed;
    let deps: HashMap<usize, Vec<usize>> =
        needed.iter().map(|&i| (i, planned.plan.deps(i))).collect();
    let plans = needed.iter().filter_map(|i| done.get(i).cloned()).collect();
    Ok((plans, deps))
}

/// What runs the steps: the store, the context, and the build's
/// secrets, ssh sockets and cache-mount choices. Vertices continue from
/// `vertex`, the last one the planning phase used.
fn executor(
    store: &Arc<Store>,
    session: &BuildSession,
    progress: &Progress,
    cancel: Arc<Cancel>,
    created: &str,
    vertex: usize,
    image_stages: HashSet<usize>,
) -> Result<Arc<Executor>, BuildError> {
    let opts = session.options();
    let mounts = MountInputs {
        secrets: opts.secrets.clone(),
        ssh: opts.ssh.clone(),
        no_cache_mounts: opts.no_cache_mounts,
        emptied: Mutex::new(Default::default()),
        context_ignore: session.ignore()?.matcher.clone(),
    };
    Ok(Arc::new(Executor {
        store: store.clone(),
        context: opts.context.clone(),
        dockerfile_name: session.file().to_string(),
        progress: progress.clone(),
        cancel,
        created: created.to_string(),
        source_date_epoch: opts.source_date_epoch,
        vertex: AtomicUsize::new(vertex),
        log: Mutex::new(Vec::new()),
        lookups: Default::default(),
        mounts,
        image_stages,
    }))
}

/// The stages whose layers the built image holds: the target and the
/// stages it is built FROM, but for the target's own under `--squash`
/// (merged into one new layer).
fn image_stages(done: &Dispatched, target: usize, squash: bool) -> HashSet<usize> {
    let mut stages = HashSet::new();
    let mut at = Some(target);
    while let Some(i) = at.filter(|i| stages.insert(*i)) {
        at = match done.get(&i).map(|p| &p.base) {
            Some(Base::Stage(parent)) => Some(*parent),
            _ => None,
        };
    }
    if squash {
        stages.remove(&target);
    }
    stages
}

/// What running the stages gave: the target's config and layers, and
/// the log of every step.
struct Ran {
    config: ImageConfig,
    layers: Vec<StageLayer>,
    /// How many of `layers` are the target stage's base's.
    base_layers: usize,
    log: Vec<StepLog>,
    /// No step ran: every one was a cache hit.
    fully_cached: bool,
}

/// Runs the scheduled stages; the target's result.
fn run_target(
    exec: &Arc<Executor>,
    (plans, deps): Schedule,
    configs: HashMap<usize, ImageConfig>,
    target: usize,
    jobs: usize,
) -> Result<Ran, BuildError> {
    let mut results = execute(exec.clone(), plans, deps, configs, jobs)?;
    let result = results
        .remove(&target)
        .ok_or(BuildError::Internal("target did not run"))?;
    drop(results);
    // The target's config is taken, not copied (see `take_configs`).
    let result = Arc::try_unwrap(result).unwrap_or_else(|shared| (*shared).clone());
    let log = exec.log.lock().map(|mut l| std::mem::take(&mut *l)).ok();
    Ok(Ran {
        config: result.config,
        layers: result.layers,
        base_layers: result.base_layers,
        fully_cached: log.as_ref().is_some_and(|l| l.iter().all(|s| s.cached)),
        log: log.unwrap_or_default(),
    })
}

/// The image a build made, what is sent on with it, and the step log.
struct Made {
    image: ImageRecord,
    tags: Vec<Reference>,
    layers: Vec<LayerRecord>,
    /// The image's `created` time (an imported cache's, when it gave one).
    created: String,
    log: Vec<StepLog>,
}

/// The target's result as an image in the store: `--label`s added, the
/// remote cache's say on `created` and the inline cache (see
/// [`crate::remotecache::finish_config`]), `--annotation`s on the manifest.
fn store_image(
    scope: &CacheScope<'_>,
    opts: &BuildOptions,
    ran: Ran,
    tags: Vec<Reference>,
    created: &str,
) -> Result<Made, BuildError> {
    let mut config = ran.config;
    for (k, v) in &opts.labels {
        config.insert_in("Labels", k, serde_json::Value::String(v.clone()));
    }
    let (cache_to, annotations) = (&opts.cache_to, &opts.annotations);
    let created =
        crate::remotecache::finish_config(scope, &mut config, created, ran.fully_cached, cache_to)?;
    let layers = if opts.squash {
        let epoch = opts.source_date_epoch;
        crate::exporter::squash::squash(
            scope.store,
            &mut config,
            ran.layers,
            ran.base_layers,
            epoch,
        )?
    } else {
        stage_layer::named(scope.store, &mut config, ran.layers)?
    };
    let image = crate::exporter::image::write_image_annotated(
        scope.store,
        &config,
        &layers,
        &tags,
        annotations,
    )?;
    Ok(Made {
        image,
        tags,
        layers,
        created,
        log: ran.log,
    })
}

/// The caches every `--cache-from` names; one that cannot be read is a
/// warning.
fn import_caches(opts: &BuildOptions, progress: &Progress, vertex: &AtomicUsize) -> Vec<Loaded> {
    let registry = opts.registry.clone().unwrap_or_default();
    let platform = opts.platform.as_ref();
    import::load_all(&opts.cache_from, &registry, platform, progress, vertex)
}

/// The image sent on: every `--output`, every `--cache-to`, `--push`.
fn deliver(
    scope: &CacheScope<'_>,
    opts: &BuildOptions,
    made: &Made,
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Result<(), BuildError> {
    let store = scope.store;
    write_outputs(store, &opts.outputs, &made.image, &made.tags, &made.layers)?;
    let export = ExportTarget {
        cache_to: &opts.cache_to,
        created: &made.created,
        registry: opts.registry.as_ref(),
    };
    crate::remotecache::export_all(scope, &export, progress, vertex)?;
    if opts.push {
        let registry = opts.registry.clone().unwrap_or_default();
        let push = crate::exporter::push::push_image;
        push(store, &made.image, &made.tags, &registry, progress, vertex)?;
    }
    Ok(())
}

/// The build's step log and its steps for `cache why`; losing either
/// costs only an explanation, never the build.
fn remember(
    store: &Store,
    opts: &BuildOptions,
    done: &Dispatched,
    target: usize,
    image: &ImageRecord,
    log: &[StepLog],
) {
    let id = image.id().to_string();
    let _ = save_log(store.root(), &id, log);
    let _ = crate::why::history::record(store.root(), opts, done, target, &id, log);
}

/// Every `--output` besides the store.
fn write_outputs(
    store: &Store,
    outputs: &[Output],
    image: &ImageRecord,
    tags: &[Reference],
    layers: &[LayerRecord],
) -> Result<(), BuildError> {
    for output in outputs {
        match output {
            Output::Image => {}
            Output::Oci(dest, o) => export(store, ArchiveKind::Oci, image, tags, dest, o)?,
            Output::Docker(dest, o) => export(store, ArchiveKind::Docker, image, tags, dest, o)?,
            Output::Local(dest) => crate::exporter::local::write_dir(store, layers, dest)?,
            Output::Tar(dest) => crate::exporter::local::write_tar(store, layers, dest)?,
        }
    }
    Ok(())
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

/// The default parallelism: one stage per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
