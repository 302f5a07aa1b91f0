//! Execution: one worker per stage, all started at once; a step that reads
//! another stage (`FROM`, `COPY --from`, `RUN --mount=from=`) waits for
//! that stage, and only that step waits: the steps before it run while the
//! other stage builds (BuildKit schedules per vertex, not per stage). At
//! most `--jobs` steps execute at a time. Each step is either taken from
//! the cache by its key or executed (RUN in a container, COPY/WORKDIR
//! straight into a layer). Cache lookups go to the store in batches: one
//! session answers a stage's whole chain of keys.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kiln_cache::image::ImageConfig;
use kiln_cache::{CachedStep, Ingredient, LayerRecord, NewRecord, RecordKind, SnapshotId, Store};
use serde::Serialize;

use crate::cachekey::from_stage;
use crate::cachekey::runtime::{self, Chain};
use crate::cancel::Cancel;
use crate::dispatch::{Base, CopyFrom, CopyOp, MountFrom, Op, RunMount, StagePlan, Step};
use crate::exporter::image::{commit_step_layer, write_image};
use crate::ops::exec::{self, ExecError, ExecRequest};
use crate::ops::fetch;
use crate::ops::file::{self, Target};
use crate::ops::layered::Layered;
use crate::ops::mounts::{self, MountEnv, MountInputs};
use crate::progress::{Event, Progress};
use crate::stage_layer::{self, commit_deferred, StageLayer};
use crate::BuildError;

mod board;
mod failure;
#[cfg(test)]
mod tests;

use board::Board;
pub use failure::StepError;
use failure::StepFailure;

/// What a finished stage hands on.
#[derive(Debug, Clone)]
pub struct StageResult {
    pub layers: Vec<StageLayer>,
    /// The finished config (history marks); its `rootfs` is named when an
    /// image is made of it ([`stage_layer::named`]).
    pub config: ImageConfig,
    /// The run-time key a child stage chains from.
    pub key: String,
    /// A step of it, or of a stage it read, ran in this build.
    pub fresh: bool,
    /// How many of `layers` are its base's (`build --squash` merges the rest).
    pub base_layers: usize,
}

/// One step as `cache why` later reads it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StepLog {
    pub name: String,
    pub key: String,
    pub cached: bool,
    pub record: Option<String>,
}

/// Shared by every stage worker of one build.
pub struct Executor {
    pub store: Arc<Store>,
    pub context: PathBuf,
    pub dockerfile_name: String,
    pub progress: Progress,
    pub cancel: Arc<Cancel>,
    pub created: String,
    pub source_date_epoch: Option<i64>,
    pub vertex: AtomicUsize,
    pub log: Mutex<Vec<StepLog>>,
    /// Secrets, ssh sockets and cache-mount options of `RUN --mount`.
    pub mounts: MountInputs,
    /// Cache hits found so far, and the keys already asked for.
    pub lookups: Lookups,
    /// The stages whose layers will be the built image's: their steps
    /// write their tar as they commit; other stages' are deferred.
    pub image_stages: HashSet<usize>,
}

/// The store's answers to this build's cache keys.
#[derive(Default)]
pub struct Lookups {
    hits: Mutex<HashMap<String, CachedStep>>,
    asked: Mutex<HashSet<String>>,
}

/// What a step reads besides its own stage: the stages, finished.
type Inputs = HashMap<usize, Arc<StageResult>>;

impl Executor {
    fn next_vertex(&self) -> usize {
        self.vertex.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn snapshot_dirs(&self, layers: &[StageLayer]) -> Vec<PathBuf> {
        self.dirs(layers.iter().map(StageLayer::snapshot))
    }

    fn image_dirs(&self, layers: &[LayerRecord]) -> Vec<PathBuf> {
        self.dirs(layers.iter().map(|l| &l.snapshot))
    }

    /// Layer directories top first, for snapshots bottom first.
    fn dirs<'a>(&self, snapshots: impl DoubleEndedIterator<Item = &'a SnapshotId>) -> Vec<PathBuf> {
        snapshots
            .rev()
            .map(|s| self.store.snapshot_path(s))
            .collect()
    }

    /// Runs one stage to the end, waiting for other stages only where a
    /// step reads them.
    /// `config` is the stage's dispatched config, moved here (not copied:
    /// its history has an entry per instruction).
    fn run_stage(
        &self,
        plan: &StagePlan,
        mut config: ImageConfig,
        board: &Board,
    ) -> Result<StageResult, BuildError> {
        let (mut layers, mut chain, mut fresh) = match &plan.base {
            Base::Scratch => (Vec::new(), Chain::at(&plan.base_key), false),
            Base::Image(e) => {
                let v = self.next_vertex();
                let name = format!("[{} 1/{}] FROM {}", plan.label, plan.total, plan.from_name);
                self.progress.send(Event::Cached { vertex: v, name });
                let layers = e.image.layers.iter().cloned();
                let layers = layers.map(StageLayer::Named).collect();
                (layers, Chain::at(&plan.base_key), false)
            }
            Base::Stage(i) => {
                let parent = board.wait_for(*i)?;
                inherit_history(&mut config, &parent.config);
                let chain = Chain {
                    dispatched: plan.base_key.clone(),
                    runtime: parent.key.clone(),
                };
                (parent.layers.clone(), chain, parent.fresh)
            }
        };
        let base_layers = layers.len();
        let mut empty = Vec::new();
        for (n, step) in plan.steps.iter().enumerate() {
            if self.cancel.is_cancelled() {
                return Err(BuildError::Cancelled);
            }
            let source = self.copy_source(step, board)?;
            let content = source
                .as_ref()
                .map(|(label, r)| (label.as_str(), self.content_digest(step, r)));
            let content = content.as_ref().map(|(l, d)| (*l, d.as_str()));
            fresh |= source.as_ref().is_some_and(|(_, r)| r.fresh);
            let mut keyed = Keyed::new(step, &chain, content);
            keyed.fallback = !fresh;
            self.ask(plan, n, &keyed, &chain);
            let (layer, ran) = self.step(plan, step, &keyed, &layers, board, &config)?;
            fresh |= ran;
            chain = runtime::after(&chain, is_link(step), &step.key, &keyed.key);
            match layer {
                Some(l) => layers.push(l),
                None => empty.push(step.history_index),
            }
        }
        for i in empty {
            config.mark_empty(i);
        }
        config.finish(Vec::new(), &self.created);
        Ok(StageResult {
            layers,
            config,
            key: chain.runtime,
            fresh,
            base_layers,
        })
    }

    /// The stage a `COPY --from=<stage>` reads, finished, with its label.
    /// `None` for other steps, and when the stage does not run in this
    /// build (an imported cache stands for it): the dispatch key is used.
    fn copy_source(
        &self,
        step: &Step,
        board: &Board,
    ) -> Result<Option<(String, Arc<StageResult>)>, BuildError> {
        let Op::Copy(CopyOp {
            from: CopyFrom::Stage(i),
            ..
        }) = &step.op
        else {
            return Ok(None);
        };
        if !board.is_scheduled(*i) {
            return Ok(None);
        }
        let label = step
            .ingredients
            .iter()
            .find(|g| g.name == runtime::FROM_STAGE)
            .map(|_| board.label(*i))
            .unwrap_or_default();
        Ok(Some((label, board.wait_for(*i)?)))
    }

    /// The content digest of what a `COPY --from` reads from `source`.
    fn content_digest(&self, step: &Step, source: &StageResult) -> String {
        let Op::Copy(c) = &step.op else {
            return String::new();
        };
        let snapshots: Vec<_> = source
            .layers
            .iter()
            .map(|l| l.snapshot().as_str())
            .collect();
        let view = Layered::new(self.snapshot_dirs(&source.layers));
        let memo = from_stage::memo_dir(self.store.root());
        from_stage::digest(&memo, &snapshots, &view, &c.paths)
    }

    /// Asks the store, in one session, for the keys of step `n` and the
    /// steps after it up to the next one keyed by content (whose key needs
    /// its source stage first). Keys already asked are not asked again.
    fn ask(&self, plan: &StagePlan, n: usize, first: &Keyed, chain: &Chain) {
        let asked = |k: &str| {
            self.lookups
                .asked
                .lock()
                .map(|a| a.contains(k))
                .unwrap_or(false)
        };
        if asked(&first.key) {
            return;
        }
        let mut keys = Vec::new();
        // `keys` without duplicates, by a set: `keys.contains` was a scan
        // per step, quadratic in a stage of 100,000 steps.
        let mut listed = std::collections::HashSet::new();
        let mut chain = chain.clone();
        for (i, step) in plan.steps.iter().enumerate().skip(n) {
            let key = match i == n {
                true => first.key.clone(),
                false if is_content_keyed(step) => break,
                false => Keyed::new(step, &chain, None).key,
            };
            for k in [&key, &step.key] {
                if !step.no_cache && !asked(k) && listed.insert(k.clone()) {
                    keys.push(k.clone());
                }
            }
            chain = runtime::after(&chain, is_link(step), &step.key, &key);
        }
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        // A failed lookup only costs a re-run of the steps.
        let found = self.store.take_cached(&refs).unwrap_or_default();
        if let Ok(mut hits) = self.lookups.hits.lock() {
            hits.extend(found);
        }
        if let Ok(mut a) = self.lookups.asked.lock() {
            a.extend(keys);
        }
    }

    fn hit(&self, key: &str) -> Option<CachedStep> {
        self.lookups.hits.lock().ok()?.get(key).cloned()
    }

    /// One step: a cache hit, or a run. Returns the layer, if any, and
    /// whether the step ran.
    fn step(
        &self,
        plan: &StagePlan,
        step: &Step,
        keyed: &Keyed,
        layers: &[StageLayer],
        board: &Board,
        config_so_far: &ImageConfig,
    ) -> Result<(Option<StageLayer>, bool), BuildError> {
        if !step.no_cache {
            let by_definition = || keyed.fallback.then(|| self.hit(&step.key)).flatten();
            if let Some(hit) = self.hit(&keyed.key).or_else(by_definition) {
                let vertex = self.next_vertex();
                self.progress.send(Event::Cached {
                    vertex,
                    name: step.name.clone(),
                });
                self.alias(step, keyed, &hit);
                self.log(step, &keyed.key, true, Some(hit.record));
                return Ok((hit.layer.map(StageLayer::from), false));
            }
        }
        let inputs = self.inputs(step, board)?;
        let _permit = board.permit()?;
        let vertex = self.next_vertex();
        self.progress.send(Event::Started {
            vertex,
            name: step.name.clone(),
        });
        let started = Instant::now();
        let layer = match self.execute(vertex, plan, step, layers, &inputs) {
            Ok(l) => l,
            Err(e) => {
                self.progress.send(Event::Failed {
                    vertex,
                    message: e.to_string(),
                });
                return Err(self.failed(e, step, layers, config_so_far));
            }
        };
        let record = self.store.add_record(NewRecord {
            cache_key: Some(keyed.key.clone()),
            parent: None,
            snapshot: layer.as_ref().map(|l| l.snapshot().clone()),
            ingredients: keyed.ingredients(step).to_vec(),
            description: step.name.clone(),
            kind: RecordKind::Regular,
        })?;
        self.log(step, &keyed.key, false, Some(record.id.clone()));
        let made = CachedStep {
            record: record.id,
            layer: layer.as_ref().map(kiln_cache::CachedLayer::from),
        };
        self.remember(&keyed.key, &made);
        self.alias(step, keyed, &made);
        self.progress.send(Event::Done {
            vertex,
            elapsed: started.elapsed(),
        });
        Ok((layer, true))
    }

    /// A step whose run-time key differs from its dispatch key is recorded
    /// under both: the run-time key finds it by content, the dispatch key
    /// by definition, which is what `--cache-to` exports and what a build
    /// whose source stage an imported cache stands for looks up.
    fn alias(&self, step: &Step, keyed: &Keyed, result: &CachedStep) {
        if keyed.key == step.key {
            return;
        }
        let both = [
            (&keyed.key, keyed.ingredients(step)),
            (&step.key, step.ingredients.as_slice()),
        ];
        for (key, ingredients) in both {
            if self.hit(key).is_some_and(|h| h.record == result.record) {
                continue;
            }
            let added = self.store.add_record(NewRecord {
                cache_key: Some(key.clone()),
                parent: None,
                snapshot: result.layer.as_ref().map(|l| l.snapshot.clone()),
                ingredients: ingredients.to_vec(),
                description: step.name.clone(),
                kind: RecordKind::Regular,
            });
            // An alias only saves a later run of the step.
            if added.is_ok() {
                self.remember(key, result);
            }
        }
    }

    fn remember(&self, key: &str, result: &CachedStep) {
        if let Ok(mut hits) = self.lookups.hits.lock() {
            hits.insert(key.to_string(), result.clone());
        }
    }

    /// The stages a step reads, finished (waited for only when it runs).
    fn inputs(&self, step: &Step, board: &Board) -> Result<Inputs, BuildError> {
        let mut out = Inputs::new();
        for i in stages_read(step) {
            if board.is_scheduled(i) {
                out.insert(i, board.wait_for(i)?);
            }
        }
        Ok(out)
    }

    fn log(&self, step: &Step, key: &str, cached: bool, record: Option<String>) {
        if let Ok(mut l) = self.log.lock() {
            l.push(StepLog {
                name: step.name.clone(),
                key: key.to_string(),
                cached,
                record,
            });
        }
    }

    /// Turns a step failure into the error the user sees, with an image of
    /// the last good state (`kiln run ID sh` opens it).
    fn failed(
        &self,
        e: StepFailure,
        step: &Step,
        layers: &[StageLayer],
        config_so_far: &ImageConfig,
    ) -> BuildError {
        let last_good = if matches!(e, StepFailure::Exit(_)) {
            let mut config = (*step.config_before).clone();
            // Keep the history marks of the steps that ran in this stage.
            if let Some(h) = config_so_far.doc.get("history").and_then(|h| h.as_array()) {
                let n = step.history_index.min(h.len());
                config.doc["history"] = serde_json::Value::Array(h[..n].to_vec());
            }
            let nonempty = config.doc["history"].as_array().map_or(0, |h| {
                h.iter().filter(|e| e.get("empty_layer").is_none()).count()
            });
            if nonempty == layers.len() {
                config.finish(Vec::new(), &self.created);
                stage_layer::named(&self.store, &mut config, layers.to_vec())
                    .and_then(|layers| write_image(&self.store, &config, &layers, &[]))
                    .ok()
                    .map(|i| i.id().to_string())
            } else {
                None
            }
        } else {
            None
        };
        match e {
            StepFailure::Exit(code) => BuildError::StepFailed {
                file: self.dockerfile_name.clone(),
                line: step.line,
                step: step.name.clone(),
                code,
                last_good,
            },
            StepFailure::Cancelled => BuildError::Cancelled,
            StepFailure::Other(cause) => BuildError::Step {
                file: self.dockerfile_name.clone(),
                line: step.line,
                step: step.name.clone(),
                cause: Box::new(cause),
            },
        }
    }

    fn execute(
        &self,
        vertex: usize,
        plan: &StagePlan,
        step: &Step,
        layers: &[StageLayer],
        deps: &HashMap<usize, Arc<StageResult>>,
    ) -> Result<Option<StageLayer>, StepFailure> {
        let staging = self
            .store
            .new_snapshot_staging()
            .map_err(StepFailure::other)?;
        let below = Layered::new(self.snapshot_dirs(layers));
        let target = Target {
            staging: staging.path(),
            below: &below,
            names: &below,
        };
        match &step.op {
            Op::Run(run) => {
                let work = self
                    .store
                    .new_snapshot_staging()
                    .map_err(StepFailure::other)?;
                let scratch = self
                    .store
                    .new_snapshot_staging()
                    .map_err(StepFailure::other)?;
                let layers_of = |from: &MountFrom| match from {
                    MountFrom::Stage(i) => deps
                        .get(i)
                        .map(|r| Layered::new(self.snapshot_dirs(&r.layers))),
                    MountFrom::Image(e) => Some(Layered::new(self.image_dirs(&e.image.layers))),
                    MountFrom::Context | MountFrom::Empty => None,
                };
                let env = MountEnv {
                    store: &self.store,
                    context: &self.context,
                    layers_of: &layers_of,
                    scratch: scratch.path(),
                    inputs: &self.mounts,
                };
                let prepared = mounts::prepare(&run.mounts, &env).map_err(StepFailure::other)?;
                let req = ExecRequest {
                    // The process and the step's vertex make it unique: two
                    // builds (or two processes) running the same step at once
                    // would otherwise share a cgroup, and the first to end
                    // removes it under the other.
                    id: format!("build-{}-{}-{vertex}", &step.key[..16], std::process::id()),
                    lowers: below.layers.clone(),
                    upper: staging.path(),
                    work: work.path(),
                    scratch: scratch.path(),
                    cancel: &self.cancel,
                    mounts: &prepared,
                };
                let progress = self.progress.clone();
                let code = exec::run(run, req, |line| progress.send(Event::Log { vertex, line }))
                    .map_err(|e| match e {
                    ExecError::Cancelled => StepFailure::Cancelled,
                    e => StepFailure::other(e),
                })?;
                if code != 0 {
                    return Err(StepFailure::Exit(code));
                }
            }
            Op::Copy(c) => {
                let source = match &c.from {
                    CopyFrom::Context(_) => None,
                    CopyFrom::Stage(i) => {
                        let r = deps
                            .get(i)
                            .ok_or(StepFailure::Other(StepError::SourceStageMissing))?;
                        Some(Layered::new(self.snapshot_dirs(&r.layers)))
                    }
                    CopyFrom::Image(e) => Some(Layered::new(self.image_dirs(&e.image.layers))),
                    CopyFrom::Remote(_) => None,
                };
                // --link: onto an empty filesystem, so the layer fits any base.
                let empty = Layered::default();
                let target = match c.link {
                    true => Target {
                        staging: staging.path(),
                        below: &empty,
                        names: &below,
                    },
                    false => target,
                };
                match &c.from {
                    CopyFrom::Remote(items) => {
                        let scratch = self
                            .store
                            .new_snapshot_staging()
                            .map_err(StepFailure::other)?;
                        let downloads = crate::source::http::cache_dir(self.store.root());
                        let (view, paths) = fetch::materialize(items, &downloads, scratch.path())
                            .map_err(StepFailure::other)?;
                        let op = CopyOp { paths, ..c.clone() };
                        file::copy(&op, &self.context, Some(&view), &target)
                    }
                    _ => file::copy(c, &self.context, source.as_ref(), &target),
                }
                .map_err(StepFailure::other)?;
            }
            Op::Mkdir { path, user } => {
                let owner = owner_of(user, &below).map_err(StepFailure::other)?;
                file::mkdir(path, owner, &target).map_err(StepFailure::other)?;
            }
        }
        let parent = layers.last().map(StageLayer::snapshot);
        let (store, epoch) = (&self.store, self.source_date_epoch);
        match self.image_stages.contains(&plan.index) {
            true => {
                commit_step_layer(store, staging, parent, &step.name, epoch).map(StageLayer::Named)
            }
            false => commit_deferred(store, staging, parent, &step.name, epoch),
        }
        .map(Some)
        .map_err(StepFailure::other)
    }
}

/// The owner WORKDIR gives a new directory: the stage's USER, resolved in
/// the image (root when unset).
fn owner_of(user: &str, below: &Layered) -> Result<(u32, u32), kiln_runtime::process::user::Error> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let passwd = below.read_text("etc/passwd");
    let group = below.read_text("etc/group");
    kiln_runtime::process::user::resolve(user, &passwd, &group).map(|u| (u.uid, u.gid))
}

/// A stage built FROM another inherits its history with the parent's
/// `empty_layer` marks, which only the parent's run knows.
fn inherit_history(child: &mut ImageConfig, parent: &ImageConfig) {
    let Some(ph) = parent
        .doc
        .get("history")
        .and_then(|h| h.as_array())
        .cloned()
    else {
        return;
    };
    if let Some(serde_json::Value::Array(ch)) = child.doc.get_mut("history") {
        for (i, entry) in ph.into_iter().enumerate() {
            if let Some(slot) = ch.get_mut(i) {
                *slot = entry;
            }
        }
    }
}

/// A step's key as it runs, with its ingredients when they differ from
/// the dispatched ones.
struct Keyed {
    key: String,
    ingredients: Option<Vec<Ingredient>>,
    /// The dispatch key may stand in when the run-time key misses: all
    /// the step reads came from the cache in this build, so the step's
    /// definition names the same content it did when it was recorded.
    fallback: bool,
}

impl Keyed {
    fn new(step: &Step, chain: &Chain, content: Option<(&str, &str)>) -> Keyed {
        match runtime::rekey(&step.ingredients, chain, content) {
            Some((key, list)) => Keyed {
                key,
                ingredients: Some(list),
                fallback: false,
            },
            None => Keyed {
                key: step.key.clone(),
                ingredients: None,
                fallback: false,
            },
        }
    }

    fn ingredients<'a>(&'a self, step: &'a Step) -> &'a [Ingredient] {
        self.ingredients.as_deref().unwrap_or(&step.ingredients)
    }
}

fn is_link(step: &Step) -> bool {
    matches!(&step.op, Op::Copy(c) if c.link)
}

/// A `COPY --from=<stage>`: keyed by the copied content once it runs.
fn is_content_keyed(step: &Step) -> bool {
    matches!(
        &step.op,
        Op::Copy(CopyOp {
            from: CopyFrom::Stage(_),
            ..
        })
    )
}

/// The stages a step reads when it executes.
fn stages_read(step: &Step) -> Vec<usize> {
    match &step.op {
        Op::Copy(CopyOp {
            from: CopyFrom::Stage(i),
            ..
        }) => vec![*i],
        Op::Run(run) => run
            .mounts
            .iter()
            .filter_map(|m| match m {
                RunMount::Bind {
                    from: MountFrom::Stage(i),
                    ..
                }
                | RunMount::Cache {
                    from: MountFrom::Stage(i),
                    ..
                } => Some(*i),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Runs the stages of `plans` (those the target needs): one worker thread
/// per stage, at most `jobs` steps executing at once; a failure cancels
/// the rest.
/// `configs`: the stages' configs taken out of their plans (see
/// [`take_configs`]); a stage whose config is not there copies its plan's.
pub fn execute(
    exec: Arc<Executor>,
    plans: Vec<Arc<StagePlan>>,
    _deps: HashMap<usize, Vec<usize>>,
    mut configs: HashMap<usize, ImageConfig>,
    jobs: usize,
) -> Result<HashMap<usize, Arc<StageResult>>, BuildError> {
    let labels = plans.iter().map(|p| (p.index, p.label.clone())).collect();
    let board = Board::new(jobs, labels, exec.cancel.clone());
    std::thread::scope(|scope| {
        for plan in &plans {
            let (exec, board) = (&exec, &board);
            let config = configs
                .remove(&plan.index)
                .unwrap_or_else(|| plan.config.clone());
            scope.spawn(move || board.finish(plan.index, exec.run_stage(plan, config, board)));
        }
    });
    board.outcome()
}

/// Moves each dispatched stage's config out of its plan, once dispatch no
/// longer reads them (a child stage starts from its parent's): at 100,000
/// steps a copy of a config, history and all, was a fifth of a build's
/// memory. A plan shared elsewhere keeps its config (execute copies it).
pub fn take_configs(done: &mut crate::dispatch::Dispatched) -> HashMap<usize, ImageConfig> {
    done.iter_mut()
        .filter_map(|(i, plan)| {
            let plan = Arc::get_mut(plan)?;
            let config = std::mem::replace(&mut plan.config, ImageConfig::empty());
            Some((*i, config))
        })
        .collect()
}

/// Writes the step log `cache why` reads (`builds/<image>.json`, `builds/last.json`).
pub fn save_log(root: &Path, image_id: &str, log: &[StepLog]) -> std::io::Result<()> {
    let dir = root.join("builds");
    std::fs::create_dir_all(&dir)?;
    let bytes = serde_json::to_vec_pretty(log).map_err(std::io::Error::other)?;
    let hex = image_id.trim_start_matches("sha256:");
    for name in [format!("{hex}.json"), "last.json".to_string()] {
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(())
}
