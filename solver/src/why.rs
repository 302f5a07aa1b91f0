//! `kiln cache why`: for each step of a build that missed the cache, the
//! ingredient that differs from the closest earlier record of that step.

use std::path::Path;

use kiln_cache::{CacheRecord, Ingredient, Store, StoreError};

use crate::scheduler::StepLog;

#[derive(Debug, thiserror::Error)]
pub enum WhyError {
    #[error("no build log for {0} (kiln cache why knows images built by kiln build)")]
    NoLog(String),
    #[error("reading the build log: {0}")]
    Read(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The explanation of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepWhy {
    pub name: String,
    pub cached: bool,
    /// What changed, in words; empty for a cached step.
    pub reasons: Vec<String>,
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
    serde_json::from_slice(&bytes).map_err(|e| WhyError::Read(e.to_string()))
}

/// Explains every step of `log`.
pub fn explain(store: &Store, log: &[StepLog]) -> Result<Vec<StepWhy>, WhyError> {
    let records = store.records()?;
    let mut out = Vec::new();
    for step in log {
        if step.cached {
            out.push(StepWhy {
                name: step.name.clone(),
                cached: true,
                reasons: Vec::new(),
            });
            continue;
        }
        let this = step
            .record
            .as_ref()
            .and_then(|id| records.iter().find(|r| &r.id == id));
        let reasons = match this {
            None => vec!["its cache record is gone".to_string()],
            Some(r) => match closest(&records, r) {
                None => vec!["no earlier build of this step".to_string()],
                Some(prev) => differences(&prev.ingredients, &r.ingredients),
            },
        };
        out.push(StepWhy {
            name: step.name.clone(),
            cached: false,
            reasons,
        });
    }
    Ok(out)
}

/// The stage label and instruction word of a step name (`[build 2/4] RUN make`).
fn identity(description: &str) -> Option<(String, String)> {
    let rest = description.strip_prefix('[')?;
    let (head, tail) = rest.split_once("] ")?;
    let stage = head.split_whitespace().next()?.to_string();
    let word = tail.split_whitespace().next()?.to_string();
    Some((stage, word))
}

/// The earlier record of the same stage and instruction sharing the most ingredients.
fn closest<'a>(records: &'a [CacheRecord], this: &CacheRecord) -> Option<&'a CacheRecord> {
    let id = identity(&this.description)?;
    records
        .iter()
        .filter(|r| r.id != this.id && r.created <= this.created && r.cache_key != this.cache_key)
        .filter(|r| identity(&r.description).as_ref() == Some(&id))
        .max_by_key(|r| (shared(&r.ingredients, &this.ingredients), r.created))
}

fn shared(a: &[Ingredient], b: &[Ingredient]) -> usize {
    a.iter().filter(|i| b.contains(i)).count()
}

/// Differences in words, most telling first; "the previous step changed"
/// only when nothing else did.
pub fn differences(old: &[Ingredient], new: &[Ingredient]) -> Vec<String> {
    let mut out = Vec::new();
    let value = |list: &[Ingredient], name: &str| {
        list.iter()
            .find(|i| i.name == name)
            .map(|i| i.value.clone())
    };
    for i in new {
        if i.name == "parent" {
            continue;
        }
        match value(old, &i.name) {
            Some(v) if v == i.value => {}
            Some(v) => out.push(describe(&i.name, Some(&v), Some(&i.value))),
            None => out.push(describe(&i.name, None, Some(&i.value))),
        }
    }
    for i in old {
        if i.name != "parent" && value(new, &i.name).is_none() {
            out.push(describe(&i.name, Some(&i.value), None));
        }
    }
    if out.is_empty() && value(old, "parent") != value(new, "parent") {
        let parent = value(new, "parent").unwrap_or_default();
        out.push(match parent.strip_prefix("image:") {
            Some(d) => format!("base image changed: now {d}"),
            None => "the previous step changed".to_string(),
        });
    }
    out
}

fn describe(name: &str, old: Option<&str>, new: Option<&str>) -> String {
    let what = match name.split_once(':') {
        Some(("file", p)) => format!("file {p}"),
        Some(("arg", a)) => format!("build arg {a}"),
        Some(("env", e)) => format!("env {e}"),
        Some(("heredoc", h)) => format!("heredoc {h}"),
        _ => name.to_string(),
    };
    match (old, new) {
        (Some(_), None) => format!("{what} removed"),
        (None, Some(v)) => format!("{what} added ({})", short(v)),
        (Some(o), Some(n)) => format!("{what} changed: {} -> {}", short(o), short(n)),
        (None, None) => what,
    }
}

fn short(v: &str) -> String {
    if v.chars().count() > 60 {
        format!("{}…", v.chars().take(57).collect::<String>())
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ing(pairs: &[(&str, &str)]) -> Vec<Ingredient> {
        pairs
            .iter()
            .map(|(n, v)| Ingredient {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn names_the_changed_file_and_arg() {
        let old = ing(&[
            ("parent", "p"),
            ("file:src/a.rs", "644 file:1"),
            ("arg:V", "1"),
        ]);
        let new = ing(&[
            ("parent", "p"),
            ("file:src/a.rs", "644 file:2"),
            ("arg:V", "2"),
        ]);
        let d = differences(&old, &new);
        assert!(d[0].starts_with("file src/a.rs changed"), "{d:?}");
        assert!(d[1].starts_with("build arg V changed: 1 -> 2"), "{d:?}");
    }

    #[test]
    fn parent_only_change_says_so() {
        let d = differences(&ing(&[("parent", "a")]), &ing(&[("parent", "b")]));
        assert_eq!(d, ["the previous step changed"]);
        let d = differences(
            &ing(&[("parent", "image:x")]),
            &ing(&[("parent", "image:y")]),
        );
        assert_eq!(d, ["base image changed: now y"]);
    }
}
