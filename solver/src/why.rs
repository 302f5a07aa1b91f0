//! `kiln cache why`: for each step of a build that missed the cache, the
//! true cause. A step is compared with its own step of the previous build
//! of the same target (`history`, `matching`), never with whichever record
//! looks closest; where it has none, it is a new step. Causes are told in
//! a fixed order and the first kind that explains the miss is the answer,
//! the rest are listed as "also": `--no-cache`, then the step's own
//! ingredients (command, env, build args, files), then the stage's base
//! image, then the previous step.

use std::collections::HashMap;
use std::path::Path;

use kiln_cache::{CacheRecord, Ingredient, Store, StoreError};
use serde::Serialize;

use crate::cachekey::files;
use crate::scheduler::StepLog;

pub mod causes;
pub mod history;
pub mod matching;

pub use causes::Cause;
use history::{BuildEntry, StepEntry};
use matching::How;

#[derive(Debug, thiserror::Error)]
pub enum WhyError {
    #[error("no build log for {0} (kiln cache why knows images built by kiln build)")]
    NoLog(String),
    #[error("reading the build log")]
    Read(#[source] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The explanation of a build.
#[derive(Debug, Clone, Serialize)]
pub struct BuildWhy {
    /// The image it made.
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<history::Target>,
    /// The image of the build it is compared with.
    pub previous: Option<String>,
    pub steps: Vec<StepWhy>,
}

/// The explanation of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepWhy {
    pub name: String,
    pub cached: bool,
    pub key: String,
    pub record: Option<String>,
    /// Its own step of the previous build.
    pub counterpart: Option<Counterpart>,
    /// What made it miss (empty for a cached step).
    pub causes: Vec<Cause>,
    /// Other changes that would have made it miss too.
    pub also: Vec<Cause>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Counterpart {
    pub name: String,
    pub key: String,
    pub how: How,
}

/// Explains the build that made `image` (an image ID), or the last build.
pub fn explain(store: &Store, image: Option<&str>) -> Result<BuildWhy, WhyError> {
    let root = store.root();
    let found = match image {
        Some(id) => history::of_image(root, id),
        None => history::last(root),
    };
    let Some(found) = found else {
        return older_log(root, image);
    };
    let records = store.records()?;
    let index = Records::new(&records);
    let copy_lists = files::dir(root);
    let from_lists = causes::from_lists(root);
    let mut stage_of_key = HashMap::new();
    for b in found.previous.iter().chain([&found.build]) {
        for s in &b.stages {
            stage_of_key.insert(s.final_key.clone(), s.label.clone());
        }
    }
    let look = causes::Lookup {
        copy_lists: &copy_lists,
        from_lists: &from_lists,
        stage_of_key: &stage_of_key,
    };
    let build = &found.build;
    let pairs = match &found.previous {
        Some(p) => matching::pair(&p.steps, &build.steps),
        None => vec![None; build.steps.len()],
    };
    let mut steps = Vec::new();
    for (n, step) in build.steps.iter().enumerate() {
        let counterpart = found
            .previous
            .as_ref()
            .zip(pairs[n])
            .map(|(p, (o, how))| (p, &p.steps[o], how));
        let mut why = StepWhy {
            name: step.name.clone(),
            cached: step.cached,
            key: step.key.clone(),
            record: step.record.clone(),
            counterpart: counterpart.map(|(_, s, how)| Counterpart {
                name: s.name.clone(),
                key: s.key.clone(),
                how,
            }),
            causes: Vec::new(),
            also: Vec::new(),
        };
        if !step.cached {
            let tiers = match (&found.previous, counterpart) {
                (None, _) => vec![
                    no_cache(build, step),
                    vec![Cause::plain(
                        "new-step",
                        "new step (no earlier build of this target)",
                    )],
                ],
                (Some(_), None) => vec![
                    no_cache(build, step),
                    vec![Cause::plain("new-step", "new step")],
                ],
                (Some(_), Some((prev, old, how))) => {
                    let pair = Pair {
                        build,
                        prev,
                        step,
                        old,
                        how,
                        index: &index,
                        look: &look,
                    };
                    pair.tiers()
                }
            };
            let mut tiers = tiers.into_iter().filter(|t| !t.is_empty());
            why.causes = tiers.next().unwrap_or_default();
            why.also = tiers.flatten().collect();
        }
        steps.push(why);
    }
    Ok(BuildWhy {
        image: Some(build.image.clone()),
        target: Some(found.target),
        previous: found.previous.map(|p| p.image),
        steps,
    })
}

/// A build from before histories were kept: its steps, without causes.
fn older_log(root: &Path, image: Option<&str>) -> Result<BuildWhy, WhyError> {
    let log = load_log(root, image)?;
    let steps = log
        .into_iter()
        .map(|s| StepWhy {
            causes: match s.cached {
                true => Vec::new(),
                false => vec![Cause::plain(
                    "unknown",
                    "its build is not in the kept history (an older kiln, or more than 16 builds of this target ago)",
                )],
            },
            name: s.name,
            cached: s.cached,
            key: s.key,
            record: s.record,
            counterpart: None,
            also: Vec::new(),
        })
        .collect();
    Ok(BuildWhy {
        image: image.map(str::to_string),
        target: None,
        previous: None,
        steps,
    })
}

/// Reads the log of the build that made `image_id` (or the last build).
pub fn load_log(root: &Path, image_id: Option<&str>) -> Result<Vec<StepLog>, WhyError> {
    let name = match image_id {
        Some(id) => format!("{}.json", id.trim_start_matches("sha256:")),
        None => "last.json".into(),
    };
    let path = root.join("builds").join(&name);
    let bytes = std::fs::read(&path)
        .map_err(|_| WhyError::NoLog(image_id.unwrap_or("the last build").to_string()))?;
    serde_json::from_slice(&bytes).map_err(WhyError::Read)
}

/// Ingredients by cache key (a key is the hash of its ingredients, so any
/// record under it has them), else by record ID.
struct Records<'a> {
    by_key: HashMap<&'a str, &'a CacheRecord>,
    by_id: HashMap<&'a str, &'a CacheRecord>,
}

impl<'a> Records<'a> {
    fn new(records: &'a [CacheRecord]) -> Records<'a> {
        let mut by_key = HashMap::new();
        let mut by_id = HashMap::new();
        for r in records {
            if let Some(k) = &r.cache_key {
                by_key.insert(k.as_str(), r);
            }
            by_id.insert(r.id.as_str(), r);
        }
        Records { by_key, by_id }
    }

    fn ingredients(&self, step: &StepEntry) -> Option<&'a [Ingredient]> {
        let r = self
            .by_key
            .get(step.key.as_str())
            .or_else(|| step.record.as_deref().and_then(|id| self.by_id.get(id)))?;
        Some(&r.ingredients)
    }
}

fn no_cache(build: &BuildEntry, step: &StepEntry) -> Vec<Cause> {
    match build.stage(&step.stage).and_then(|s| s.no_cache.as_ref()) {
        Some(flag) => vec![Cause::plain(
            "no-cache",
            format!("{flag}: the cache was not used"),
        )],
        None => Vec::new(),
    }
}

/// A step and its own step of the previous build.
struct Pair<'a> {
    build: &'a BuildEntry,
    prev: &'a BuildEntry,
    step: &'a StepEntry,
    old: &'a StepEntry,
    how: How,
    index: &'a Records<'a>,
    look: &'a causes::Lookup<'a>,
}

impl Pair<'_> {
    /// Causes by kind, in the order they are told.
    fn tiers(&self) -> Vec<Vec<Cause>> {
        let first = no_cache(self.build, self.step);
        let (old, new) = (
            self.index.ingredients(self.old),
            self.index.ingredients(self.step),
        );
        let (Some(old), Some(new)) = (old, new) else {
            let text = match new {
                None => "its cache record is gone",
                Some(_) => "the previous build's record of this step is gone",
            };
            return vec![first, vec![Cause::plain("record-gone", text)]];
        };
        let own = causes::own(old, new, self.look);
        let parent = |list: &[Ingredient]| {
            list.iter()
                .find(|i| i.name == "parent")
                .map(|i| i.value.clone())
        };
        // A `COPY --link` has no parent: nothing below it counts.
        let chained = parent(new).is_some();
        let base = match chained {
            true => self.base_changed(),
            false => Vec::new(),
        };
        let leads = |b: &BuildEntry, s: &StepEntry| {
            b.steps.iter().find(|x| x.stage == s.stage).map(|x| &x.name) == Some(&s.name)
        };
        // The first step of a stage chains from the base: when the base
        // changed and it was first before too, the base says it all.
        let base_says_all =
            !base.is_empty() && leads(self.build, self.step) && leads(self.prev, self.old);
        let mut previous = Vec::new();
        if chained && parent(old) != parent(new) && !base_says_all {
            let text = match self.how {
                How::Moved => {
                    let was = self
                        .old
                        .name
                        .split_once(' ')
                        .and_then(|(_, r)| r.split_once(']'));
                    format!(
                        "the previous step changed (moved from {})",
                        was.map_or("elsewhere", |(at, _)| at)
                    )
                }
                _ => "the previous step changed".to_string(),
            };
            previous.push(Cause::plain("previous-step", text));
        }
        let mut tiers = vec![first, own, base, previous];
        if tiers.iter().all(Vec::is_empty) {
            let text = match self.old.key == self.step.key {
                true => "same inputs as the previous build; its result was no longer in the cache",
                false => "its cache key changed",
            };
            tiers.push(vec![Cause::plain("not-in-cache", text)]);
        }
        tiers
    }

    /// The stage's base, if it differs from the previous build's.
    fn base_changed(&self) -> Vec<Cause> {
        let label = &self.step.stage;
        let (Some(now), Some(before)) = (self.build.stage(label), self.prev.stage(label)) else {
            return Vec::new();
        };
        match (&now.base_stage, &before.base_stage) {
            (Some(s), Some(t)) if s == t => {
                if fingerprint(self.build, s, 0) == fingerprint(self.prev, s, 0) {
                    return Vec::new();
                }
                vec![Cause {
                    kind: "base-stage",
                    subject: Some(s.clone()),
                    old: None,
                    new: None,
                    text: format!("base stage {s} changed"),
                }]
            }
            _ if now.from != before.from => vec![Cause {
                kind: "base-image",
                subject: Some(now.from.clone()),
                old: Some(before.from.clone()),
                new: Some(now.from.clone()),
                text: format!("base image changed: {} -> {}", before.from, now.from),
            }],
            _ if now.base != before.base => {
                let digest = |b: &str| b.strip_prefix("image:").unwrap_or(b).to_string();
                vec![Cause {
                    kind: "base-image",
                    subject: Some(now.from.clone()),
                    old: Some(digest(&before.base)),
                    new: Some(digest(&now.base)),
                    text: format!(
                        "base image {} changed: {} -> {}",
                        now.from,
                        short_digest(&digest(&before.base)),
                        short_digest(&digest(&now.base))
                    ),
                }]
            }
            _ => Vec::new(),
        }
    }
}

/// `sha256:` and 12 hex digits, as image IDs are shown.
fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", &hex[..hex.len().min(12)]),
        None => d.to_string(),
    }
}

/// What a stage's result depends on, as far as the log shows: its base
/// and its steps' keys. Equal fingerprints, equal results.
fn fingerprint(build: &BuildEntry, label: &str, depth: usize) -> String {
    let Some(stage) = build.stage(label) else {
        return String::new();
    };
    let base = match (&stage.base_stage, depth < 64) {
        (Some(s), true) => fingerprint(build, s, depth + 1),
        _ => stage.base.clone(),
    };
    let mut h = blake3::Hasher::new();
    h.update(base.as_bytes());
    for s in build.steps.iter().filter(|s| s.stage == label) {
        h.update(b"\0");
        h.update(s.key.as_bytes());
    }
    h.finalize().to_hex().to_string()
}
