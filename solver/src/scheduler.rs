//! Execution: stages run as soon as the stages they read are done, several
//! at once (tokio tasks over blocking workers, at most `--jobs`); within a
//! stage, steps run in order, each either taken from the cache by its key
//! or executed (RUN in a container, COPY/WORKDIR straight into a layer).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kiln_cache::{LayerRecord, NewRecord, RecordKind, Store};
use serde::Serialize;

use crate::cancel::Cancel;
use crate::dispatch::{Base, CopyFrom, CopyOp, MountFrom, Op, StagePlan, Step};
use crate::exporter::image::{commit_layer, layer_of_record, write_image};
use crate::image_config::ImageConfig;
use crate::ops::exec::{self, ExecError, ExecRequest};
use crate::ops::fetch;
use crate::ops::file::{self, Target};
use crate::ops::layered::Layered;
use crate::ops::mounts::{self, MountEnv, MountInputs};
use crate::progress::{Event, Progress};
use crate::BuildError;

/// What a finished stage hands on.
#[derive(Debug, Clone)]
pub struct StageResult {
    pub layers: Vec<LayerRecord>,
    /// The finished config (history marks, diff_ids).
    pub config: ImageConfig,
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
}

impl Executor {
    fn next_vertex(&self) -> usize {
        self.vertex.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn snapshot_dirs(&self, layers: &[LayerRecord]) -> Vec<PathBuf> {
        layers
            .iter()
            .rev()
            .map(|l| self.store.snapshot_path(&l.snapshot))
            .collect()
    }

    /// Runs one stage to the end.
    pub fn run_stage(
        &self,
        plan: &StagePlan,
        deps: &HashMap<usize, Arc<StageResult>>,
    ) -> Result<StageResult, BuildError> {
        let mut config = plan.config.clone();
        let mut layers = match &plan.base {
            Base::Scratch => Vec::new(),
            Base::Image(e) => {
                let v = self.next_vertex();
                let name = format!("[{} 1/{}] FROM {}", plan.label, plan.total, plan.from_name);
                self.progress.send(Event::Cached { vertex: v, name });
                e.image.layers.clone()
            }
            Base::Stage(i) => {
                let parent = deps
                    .get(i)
                    .ok_or(BuildError::Internal("stage ran before its base"))?;
                inherit_history(&mut config, &parent.config);
                parent.layers.clone()
            }
        };
        let mut empty = Vec::new();
        let mut parent_record = None;
        for step in &plan.steps {
            if self.cancel.is_cancelled() {
                return Err(BuildError::Cancelled);
            }
            let (layer, record) = self.step(plan, step, &layers, deps, &config)?;
            parent_record = record.or(parent_record);
            match layer {
                Some(l) => layers.push(l),
                None => empty.push(step.history_index),
            }
        }
        let _ = parent_record;
        for i in empty {
            config.mark_empty(i);
        }
        let diff_ids = layers.iter().map(|l| l.diff_id.to_string()).collect();
        config.finish(diff_ids, &self.created);
        Ok(StageResult { layers, config })
    }

    /// One step: a cache hit, or a run. Returns the layer (if any) and the record id.
    fn step(
        &self,
        plan: &StagePlan,
        step: &Step,
        layers: &[LayerRecord],
        deps: &HashMap<usize, Arc<StageResult>>,
        config_so_far: &ImageConfig,
    ) -> Result<(Option<LayerRecord>, Option<String>), BuildError> {
        let vertex = self.next_vertex();
        if !step.no_cache {
            if let Some(rec) = self.store.record_by_key(&step.key)? {
                if let Some(layer) = layer_of_record(&self.store, &rec)? {
                    let _ = self.store.use_record(&rec.id);
                    self.progress.send(Event::Cached {
                        vertex,
                        name: step.name.clone(),
                    });
                    self.log(step, true, Some(rec.id.clone()));
                    return Ok((layer, Some(rec.id)));
                }
            }
        }
        self.progress.send(Event::Started {
            vertex,
            name: step.name.clone(),
        });
        let started = Instant::now();
        let layer = match self.execute(vertex, plan, step, layers, deps) {
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
            cache_key: Some(step.key.clone()),
            parent: None,
            snapshot: layer.as_ref().map(|l| l.snapshot.clone()),
            ingredients: step.ingredients.clone(),
            description: step.name.clone(),
            kind: RecordKind::Regular,
        })?;
        self.log(step, false, Some(record.id.clone()));
        self.progress.send(Event::Done {
            vertex,
            elapsed: started.elapsed(),
        });
        Ok((layer, Some(record.id)))
    }

    fn log(&self, step: &Step, cached: bool, record: Option<String>) {
        if let Ok(mut l) = self.log.lock() {
            l.push(StepLog {
                name: step.name.clone(),
                key: step.key.clone(),
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
        layers: &[LayerRecord],
        config_so_far: &ImageConfig,
    ) -> BuildError {
        let last_good = if matches!(e, StepFailure::Exit(_)) {
            let mut config = step.config_before.clone();
            // Keep the history marks of the steps that ran in this stage.
            if let Some(h) = config_so_far.doc.get("history").and_then(|h| h.as_array()) {
                let n = step.history_index.min(h.len());
                config.doc["history"] = serde_json::Value::Array(h[..n].to_vec());
            }
            let nonempty = config.doc["history"].as_array().map_or(0, |h| {
                h.iter().filter(|e| e.get("empty_layer").is_none()).count()
            });
            if nonempty == layers.len() {
                config.finish(
                    layers.iter().map(|l| l.diff_id.to_string()).collect(),
                    &self.created,
                );
                write_image(&self.store, &config, layers, &[])
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
            StepFailure::Other(message) => BuildError::Step {
                file: self.dockerfile_name.clone(),
                line: step.line,
                step: step.name.clone(),
                message,
            },
        }
    }

    fn execute(
        &self,
        vertex: usize,
        plan: &StagePlan,
        step: &Step,
        layers: &[LayerRecord],
        deps: &HashMap<usize, Arc<StageResult>>,
    ) -> Result<Option<LayerRecord>, StepFailure> {
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
                    MountFrom::Image(e) => Some(Layered::new(self.snapshot_dirs(&e.image.layers))),
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
                    id: format!("build-{}", &step.key[..16]),
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
                    e => StepFailure::Other(e.to_string()),
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
                            .ok_or(StepFailure::Other("source stage did not run".into()))?;
                        Some(Layered::new(self.snapshot_dirs(&r.layers)))
                    }
                    CopyFrom::Image(e) => Some(Layered::new(self.snapshot_dirs(&e.image.layers))),
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
                let owner = owner_of(user, &below).map_err(StepFailure::Other)?;
                file::mkdir(path, owner, &target).map_err(StepFailure::other)?;
            }
        }
        let parent = layers.last().map(|l| &l.snapshot);
        let _ = plan;
        commit_layer(
            &self.store,
            staging,
            parent,
            &step.name,
            self.source_date_epoch,
        )
        .map_err(StepFailure::other)
    }
}

/// Why a step did not finish.
#[derive(Debug)]
enum StepFailure {
    Exit(u8),
    Cancelled,
    Other(String),
}

impl StepFailure {
    fn other(e: impl std::fmt::Display) -> StepFailure {
        StepFailure::Other(e.to_string())
    }
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepFailure::Exit(c) => {
                write!(f, "process did not complete successfully: exit code: {c}")
            }
            StepFailure::Cancelled => f.write_str("cancelled"),
            StepFailure::Other(m) => f.write_str(m),
        }
    }
}

/// The owner WORKDIR gives a new directory: the stage's USER, resolved in
/// the image (root when unset).
fn owner_of(user: &str, below: &Layered) -> Result<(u32, u32), String> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let passwd = below.read_text("etc/passwd");
    let group = below.read_text("etc/group");
    kiln_runtime::process::user::resolve(user, &passwd, &group)
        .map(|u| (u.uid, u.gid))
        .map_err(|e| e.to_string())
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

/// Runs the stages of `plans` (those the target needs) with at most `jobs`
/// at once; a failure cancels the rest.
pub fn execute(
    exec: Arc<Executor>,
    plans: Vec<Arc<StagePlan>>,
    deps: HashMap<usize, Vec<usize>>,
    jobs: usize,
) -> Result<HashMap<usize, Arc<StageResult>>, BuildError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(jobs.max(1) + 2)
        .enable_all()
        .build()
        .map_err(|e| BuildError::Output(format!("starting the scheduler: {e}")))?;
    runtime.block_on(schedule(exec, plans, deps, jobs.max(1)))
}

async fn schedule(
    exec: Arc<Executor>,
    plans: Vec<Arc<StagePlan>>,
    deps: HashMap<usize, Vec<usize>>,
    jobs: usize,
) -> Result<HashMap<usize, Arc<StageResult>>, BuildError> {
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
    let by_index: HashMap<usize, Arc<StagePlan>> =
        plans.iter().map(|p| (p.index, p.clone())).collect();
    let mut pending: BTreeSet<usize> = by_index.keys().copied().collect();
    let mut done: HashMap<usize, Arc<StageResult>> = HashMap::new();
    let mut running = tokio::task::JoinSet::new();
    let mut first_error = None;
    loop {
        if first_error.is_none() {
            let ready: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|i| {
                    deps.get(i)
                        .is_none_or(|d| d.iter().all(|x| done.contains_key(x)))
                })
                .collect();
            for i in ready {
                pending.remove(&i);
                let plan = by_index[&i].clone();
                let inputs: HashMap<usize, Arc<StageResult>> = done.clone();
                let exec = exec.clone();
                let permits = permits.clone();
                running.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let r =
                        tokio::task::spawn_blocking(move || exec.run_stage(&plan, &inputs)).await;
                    (i, r)
                });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (i, result) = joined.map_err(|_| BuildError::Internal("a stage worker panicked"))?;
        match result.map_err(|_| BuildError::Internal("a stage worker panicked"))? {
            Ok(r) => {
                done.insert(i, Arc::new(r));
            }
            Err(e) => {
                if first_error.is_none() {
                    // Stop the other stages: their results are not needed any more.
                    if !matches!(e, BuildError::Cancelled) {
                        exec.cancel.cancel();
                    }
                    first_error = Some(e);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None if pending.is_empty() => Ok(done),
        None => Err(BuildError::Internal("stages left unscheduled")),
    }
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
