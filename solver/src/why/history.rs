//! The builds of each target, kept for `cache why`: a step is explained
//! against its own step of the previous build of the same target, so that
//! build has to be known. One file per target under `builds/why/` holds
//! its newest [`KEPT`] builds (step names, keys, records, and what each
//! stage was built from); `builds/why/last` names the target built last.
//! All of it is derived: losing it costs only explanations.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::scheduler::StepLog;

/// Builds kept per target.
pub const KEPT: usize = 16;

/// What makes two builds "the same target": the same Dockerfile, context
/// and target stage (build args, tags and flags may differ: those are
/// what `cache why` explains).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub context: String,
    pub dockerfile: String,
    pub stage: String,
}

impl Target {
    /// The target of a build of `context` with `dockerfile` (default
    /// `<context>/Dockerfile`) up to stage `stage`; paths are made
    /// absolute so that `kiln build .` and `kiln build $PWD` agree.
    pub fn new(context: &Path, dockerfile: Option<&Path>, stage: &str) -> Target {
        let abs = |p: &Path| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        };
        let dockerfile = match dockerfile {
            Some(d) => abs(d),
            None => abs(&context.join("Dockerfile")),
        };
        Target {
            context: abs(context),
            dockerfile,
            stage: stage.to_string(),
        }
    }

    fn file_stem(&self) -> String {
        let text = format!("{}\0{}\0{}", self.context, self.dockerfile, self.stage);
        blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
    }
}

/// One stage of a build as `cache why` compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageInfo {
    pub label: String,
    /// The FROM word, expanded (`busybox`, `b`, `scratch`).
    pub from: String,
    /// `image:<manifest digest>`, `scratch`, or the dispatch key of the
    /// stage it is built FROM.
    pub base: String,
    /// The label of the stage it is built FROM, if any.
    #[serde(default)]
    pub base_stage: Option<String>,
    /// Its final dispatch key (what `RUN --mount=from=` and a COPY --from
    /// keyed by definition name it by).
    #[serde(default)]
    pub final_key: String,
    /// Why the cache was not asked for its steps (`--no-cache`,
    /// `--no-cache-filter b`), if it was not.
    #[serde(default)]
    pub no_cache: Option<String>,
}

/// One step of a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepEntry {
    /// `[build 2/4] RUN make`.
    pub name: String,
    pub stage: String,
    /// The instruction's position in its stage (FROM is 1).
    pub position: usize,
    /// The instruction as shown: `RUN make`.
    pub text: String,
    pub key: String,
    pub cached: bool,
    #[serde(default)]
    pub record: Option<String>,
}

impl StepEntry {
    /// From a scheduler log line; `None` for a name not in the
    /// `[STAGE N/M] TEXT` form.
    pub fn from_log(log: &StepLog) -> Option<StepEntry> {
        let (stage, position, text) = split_name(&log.name)?;
        Some(StepEntry {
            name: log.name.clone(),
            stage,
            position,
            text,
            key: log.key.clone(),
            cached: log.cached,
            record: log.record.clone(),
        })
    }

    /// The instruction word: RUN, COPY, ADD, WORKDIR.
    pub fn kind(&self) -> &str {
        self.text.split_whitespace().next().unwrap_or_default()
    }
}

/// `[build 2/4] RUN make` -> (`build`, 2, `RUN make`).
pub fn split_name(name: &str) -> Option<(String, usize, String)> {
    let rest = name.strip_prefix('[')?;
    let (head, text) = rest.split_once("] ")?;
    let (stage, count) = head.rsplit_once(' ')?;
    let position = count.split_once('/')?.0.parse().ok()?;
    Some((stage.to_string(), position, text.to_string()))
}

/// One finished build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildEntry {
    pub image: String,
    /// Seconds since the epoch: which of two builds of an image is newer.
    #[serde(default)]
    pub finished: u64,
    pub stages: Vec<StageInfo>,
    /// In Dockerfile order: stage by stage, then by position.
    pub steps: Vec<StepEntry>,
}

impl BuildEntry {
    pub fn new(image: &str, stages: Vec<StageInfo>, log: &[StepLog]) -> BuildEntry {
        let mut steps: Vec<StepEntry> = log.iter().filter_map(StepEntry::from_log).collect();
        let order = |s: &StepEntry| stages.iter().position(|x| x.label == s.stage);
        steps.sort_by_key(|s| (order(s), s.position));
        let finished = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        BuildEntry {
            image: image.to_string(),
            finished,
            stages,
            steps,
        }
    }

    pub fn stage(&self, label: &str) -> Option<&StageInfo> {
        self.stages.iter().find(|s| s.label == label)
    }
}

/// The kept builds of one target, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHistory {
    pub target: Target,
    pub builds: Vec<BuildEntry>,
}

fn dir(root: &Path) -> PathBuf {
    root.join("builds").join("why")
}

/// Adds `build` to its target's history and makes it the last build.
/// Two builds of one target finishing at once may lose one entry (each
/// rewrites the file): that costs an explanation, never a wrong one,
/// since every entry is a whole build.
pub fn save(root: &Path, target: &Target, build: BuildEntry) -> std::io::Result<()> {
    let dir = dir(root);
    std::fs::create_dir_all(&dir)?;
    let stem = target.file_stem();
    let path = dir.join(format!("{stem}.json"));
    let mut history = read(&path)
        .filter(|h| &h.target == target)
        .unwrap_or_else(|| TargetHistory {
            target: target.clone(),
            builds: Vec::new(),
        });
    history.builds.push(build);
    let excess = history.builds.len().saturating_sub(KEPT);
    history.builds.drain(..excess);
    let bytes = serde_json::to_vec(&history).map_err(std::io::Error::other)?;
    write(&dir, &format!("{stem}.json"), &bytes)?;
    write(&dir, "last", stem.as_bytes())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))
}

fn read(path: &Path) -> Option<TargetHistory> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// A build and the previous build of its target (if still kept).
#[derive(Debug, Clone)]
pub struct Found {
    pub target: Target,
    pub build: BuildEntry,
    pub previous: Option<BuildEntry>,
}

/// Saves what `kiln cache why` needs of a finished build (failing to
/// save costs only its explanation).
pub fn record(
    root: &Path,
    opts: &crate::build::BuildOptions,
    done: &crate::dispatch::Dispatched,
    target: usize,
    image: &str,
    log: &[StepLog],
) -> std::io::Result<()> {
    let mut plans: Vec<_> = done.values().collect();
    plans.sort_by_key(|p| p.index);
    let filter: Vec<String> = opts
        .no_cache_filter
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let stages = plans
        .iter()
        .map(|p| StageInfo {
            label: p.label.clone(),
            from: p.from_name.clone(),
            base: p.base_key.clone(),
            base_stage: match p.base {
                crate::dispatch::Base::Stage(i) => done.get(&i).map(|s| s.label.clone()),
                _ => None,
            },
            final_key: p.final_key.clone(),
            no_cache: match (opts.no_cache, filter.contains(&p.label)) {
                (true, _) => Some("--no-cache".to_string()),
                (false, true) => Some(format!("--no-cache-filter {}", p.label)),
                (false, false) => None,
            },
        })
        .collect();
    let label = done.get(&target).map_or("", |p| p.label.as_str());
    let t = Target::new(&opts.context, opts.dockerfile.as_deref(), label);
    save(root, &t, BuildEntry::new(image, stages, log))
}

/// The last build on this root.
pub fn last(root: &Path) -> Option<Found> {
    let stem = std::fs::read_to_string(dir(root).join("last")).ok()?;
    let history = read(&dir(root).join(format!("{}.json", stem.trim())))?;
    found(history, None)
}

/// The newest kept build that made `image`.
pub fn of_image(root: &Path, image: &str) -> Option<Found> {
    let mut best: Option<(u64, TargetHistory, usize)> = None;
    for entry in std::fs::read_dir(dir(root)).ok()?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        let Some(history) = read(&entry.path()) else {
            continue;
        };
        let newest = history
            .builds
            .iter()
            .enumerate()
            .filter(|(_, b)| b.image == image)
            .max_by_key(|(i, b)| (b.finished, *i));
        if let Some((i, b)) = newest {
            if best.as_ref().is_none_or(|(t, _, _)| b.finished >= *t) {
                best = Some((b.finished, history.clone(), i));
            }
        }
    }
    let (_, history, i) = best?;
    found(history, Some(i))
}

fn found(mut history: TargetHistory, at: Option<usize>) -> Option<Found> {
    let at = at.unwrap_or(history.builds.len().checked_sub(1)?);
    history.builds.truncate(at + 1);
    let build = history.builds.pop()?;
    Some(Found {
        target: history.target,
        build,
        previous: history.builds.pop(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(name: &str, key: &str) -> StepLog {
        StepLog {
            name: name.into(),
            key: key.into(),
            cached: false,
            record: None,
        }
    }

    fn stage(label: &str) -> StageInfo {
        StageInfo {
            label: label.into(),
            from: "busybox".into(),
            base: "image:x".into(),
            base_stage: None,
            final_key: String::new(),
            no_cache: None,
        }
    }

    #[test]
    fn names_split_into_stage_position_and_text() {
        assert_eq!(
            split_name("[build 2/4] RUN make all"),
            Some(("build".into(), 2, "RUN make all".into()))
        );
        assert_eq!(split_name("RUN make"), None);
    }

    #[test]
    fn steps_are_kept_in_dockerfile_order_and_builds_per_target() {
        let root = tempfile::tempdir().unwrap();
        let t = Target::new(root.path(), None, "stage-1");
        // Stages finish in any order; the entry is in Dockerfile order.
        let steps = [log("[stage-1 2/2] RUN b", "k2"), log("[a 2/2] RUN a", "k1")];
        let b1 = BuildEntry::new("sha256:1", vec![stage("a"), stage("stage-1")], &steps);
        assert_eq!(b1.steps[0].stage, "a");
        save(root.path(), &t, b1.clone()).unwrap();
        let b2 = BuildEntry::new("sha256:2", vec![stage("a"), stage("stage-1")], &steps);
        save(root.path(), &t, b2).unwrap();
        let other = Target::new(root.path(), None, "a");
        save(
            root.path(),
            &other,
            BuildEntry::new("sha256:3", vec![], &[]),
        )
        .unwrap();
        let f = of_image(root.path(), "sha256:2").unwrap();
        assert_eq!(f.previous.unwrap().image, "sha256:1");
        assert!(of_image(root.path(), "sha256:1")
            .unwrap()
            .previous
            .is_none());
        let last = last(root.path()).unwrap();
        assert_eq!(
            (last.build.image.as_str(), last.target),
            ("sha256:3", other)
        );
        for i in 0..KEPT + 3 {
            save(
                root.path(),
                &t,
                BuildEntry::new(&i.to_string(), vec![], &[]),
            )
            .unwrap();
        }
        assert!(
            of_image(root.path(), "sha256:1").is_none(),
            "the oldest are dropped"
        );
    }
}
