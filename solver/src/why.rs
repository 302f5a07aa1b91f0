//! `kiln cache why`: for each step of a build that missed the cache, the
//! ingredient that differs from the closest earlier record of that step.

use std::path::Path;

use kiln_cache::{CacheRecord, Ingredient, Store, StoreError};

use crate::cachekey::files;
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
                Some(prev) => {
                    let lists = files::dir(store.root());
                    with_file_lists(
                        &lists,
                        prev,
                        r,
                        differences(&prev.ingredients, &r.ingredients),
                    )
                }
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

/// Most files a changed file list is described by, one line each.
const LISTED: usize = 10;

/// A large COPY's files are one ingredient naming a kept list: where both
/// lists are still kept, the files that differ replace the "files of …
/// changed" line.
fn with_file_lists(
    lists: &Path,
    old: &CacheRecord,
    new: &CacheRecord,
    reasons: Vec<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for n in new
        .ingredients
        .iter()
        .filter(|i| i.name.starts_with(files::PREFIX))
    {
        let Some(o) = old.ingredients.iter().find(|i| i.name == n.name) else {
            continue;
        };
        if o.value == n.value {
            continue;
        }
        if let (Some(a), Some(b)) = (files::load(lists, &o.value), files::load(lists, &n.value)) {
            out.extend(list_changes(&a, &b));
        }
    }
    if out.is_empty() {
        return reasons;
    }
    let generic = |r: &String| r.starts_with("files of ");
    out.extend(reasons.into_iter().filter(|r| !generic(r)));
    out
}

fn list_changes(
    old: &std::collections::BTreeMap<String, String>,
    new: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (path, value) in new {
        match old.get(path) {
            None => lines.push(format!("file {path} added ({})", short(value))),
            Some(o) if o != value => lines.push(format!("file {path} {}", file_change(o, value))),
            Some(_) => {}
        }
    }
    for path in old.keys().filter(|p| !new.contains_key(*p)) {
        lines.push(format!("file {path} removed"));
    }
    if lines.len() > LISTED {
        let more = lines.len() - LISTED;
        lines.truncate(LISTED);
        lines.push(format!("and {more} more files"));
    }
    lines
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
/// only when nothing else did. A name may repeat (one `source` per COPY
/// source): repeated names are compared position by position.
pub fn differences(old: &[Ingredient], new: &[Ingredient]) -> Vec<String> {
    let (old_by, new_by) = (by_name(old), by_name(new));
    let mut out = Vec::new();
    for (name, new_values) in &new_by {
        let old_values = old_by.get(name).map(Vec::as_slice).unwrap_or_default();
        compare(name, old_values, new_values, &mut out);
    }
    for (name, old_values) in &old_by {
        if !new_by.contains_key(name) {
            compare(name, old_values, &[], &mut out);
        }
    }
    if out.is_empty() && old_by.first("parent") != new_by.first("parent") {
        out.push(
            match new_by
                .first("parent")
                .and_then(|p| p.strip_prefix("image:"))
            {
                Some(d) => format!("base image changed: now {d}"),
                None => "the previous step changed".to_string(),
            },
        );
    }
    out
}

/// Ingredients grouped by name, in the order names first appear, with an
/// index by name (a COPY of a large context has one name per file).
struct ByName<'a>(
    Vec<(&'a str, Vec<&'a str>)>,
    std::collections::HashMap<&'a str, usize>,
);

impl<'a> ByName<'a> {
    fn get(&self, name: &str) -> Option<&Vec<&'a str>> {
        self.1.get(name).map(|&i| &self.0[i].1)
    }
    fn first(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| v.first().copied())
    }
    fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl<'b, 'a> IntoIterator for &'b ByName<'a> {
    type Item = &'b (&'a str, Vec<&'a str>);
    type IntoIter = std::slice::Iter<'b, (&'a str, Vec<&'a str>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

fn by_name(list: &[Ingredient]) -> ByName<'_> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = Default::default();
    for i in list {
        match index.get(i.name.as_str()) {
            Some(&at) => out[at].1.push(i.value.as_str()),
            None => {
                index.insert(i.name.as_str(), out.len());
                out.push((&i.name, vec![&i.value]));
            }
        }
    }
    ByName(out, index)
}

fn compare(name: &str, old: &[&str], new: &[&str], out: &mut Vec<String>) {
    if name == "parent" {
        return;
    }
    for i in 0..old.len().max(new.len()) {
        let (o, n) = (old.get(i).copied(), new.get(i).copied());
        if o != n {
            out.push(describe(name, o, n));
        }
    }
}

fn describe(name: &str, old: Option<&str>, new: Option<&str>) -> String {
    let what = match name.split_once(':') {
        Some(("file", p)) => format!("file {p}"),
        Some(("arg", a)) => format!("build arg {a}"),
        Some(("env", e)) => format!("env {e}"),
        Some(("heredoc", h)) => format!("heredoc {h}"),
        _ => name.to_string(),
    };
    if let Some(source) = name.strip_prefix(files::PREFIX) {
        let count = new.and_then(|v| v.split(' ').next()).unwrap_or("?");
        return format!("files of {source} changed ({count} files)");
    }
    // `from-content:<stage>`: the digest of what a COPY --from reads.
    if let Some(stage) = name.strip_prefix("from-content:") {
        return match (old, new) {
            (Some(_), Some(_)) => format!("the files it copies from stage {stage} changed"),
            _ => format!("it now copies by content from stage {stage}"),
        };
    }
    match (old, new) {
        (Some(_), None) => format!("{what} removed"),
        (None, Some(v)) => format!("{what} added ({})", short(v)),
        (Some(_), Some(_)) if name == "from-stage" => {
            "the stage it copies from changed".to_string()
        }
        (Some(o), Some(n)) if name.starts_with("file:") => format!("{what} {}", file_change(o, n)),
        (Some(o), Some(n)) => format!("{what} changed: {} -> {}", short(o), short(n)),
        (None, None) => what,
    }
}

/// File ingredients read `MODE KIND:DIGEST`: say which part changed.
fn file_change(old: &str, new: &str) -> String {
    let split = |v: &str| {
        v.split_once(' ')
            .map(|(m, rest)| (m.to_string(), rest.to_string()))
    };
    match (split(old), split(new)) {
        (Some((om, oc)), Some((nm, nc))) if om == nm && oc != nc => "content changed".to_string(),
        (Some((om, oc)), Some((nm, nc))) if om != nm && oc == nc => {
            format!("mode changed: {om} -> {nm}")
        }
        _ => format!("changed: {} -> {}", short(old), short(new)),
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
        pairs.iter().map(|&(n, v)| Ingredient::new(n, v)).collect()
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
        assert_eq!(d[0], "file src/a.rs content changed", "{d:?}");
        assert!(d[1].starts_with("build arg V changed: 1 -> 2"), "{d:?}");
    }

    #[test]
    fn repeated_names_compare_by_position() {
        let old = ing(&[
            ("source", "a.txt"),
            ("source", "b.txt"),
            ("file:b.txt", "644 file:1"),
        ]);
        let new = ing(&[
            ("source", "a.txt"),
            ("source", "b.txt"),
            ("file:b.txt", "755 file:1"),
        ]);
        assert_eq!(
            differences(&old, &new),
            ["file b.txt mode changed: 644 -> 755"]
        );
        let fewer = ing(&[("source", "a.txt"), ("file:b.txt", "644 file:1")]);
        assert_eq!(differences(&old, &fewer), ["source removed"]);
    }

    #[test]
    fn a_large_copy_names_its_changed_files_from_the_kept_lists() {
        use crate::cachekey::KeyBuilder;
        use crate::context::Entry;
        let lists = tempfile::tempdir().unwrap();
        let entries: Vec<Entry> = (0..=files::MANY)
            .map(|i| Entry::file_fixture(&format!("src/f{i:04}")))
            .collect();
        let record = |digests: &[String]| {
            let mut k = KeyBuilder::new("COPY");
            files::add(&mut k, lists.path(), "src", entries.iter().zip(digests));
            let (key, ingredients) = k.finish();
            CacheRecord {
                id: key.clone(),
                cache_key: Some(key),
                parent: None,
                snapshot: None,
                ingredients,
                description: "[a 2/2] COPY src /src".into(),
                created: std::time::SystemTime::UNIX_EPOCH,
                last_used: std::time::SystemTime::UNIX_EPOCH,
                usage_count: 0,
                size: 0,
                kind: kiln_cache::RecordKind::Regular,
            }
        };
        let mut digests: Vec<String> = entries.iter().map(|_| "file:1".to_string()).collect();
        let old = record(&digests);
        digests[3] = "file:2".into();
        let new = record(&digests);
        let generic = differences(&old.ingredients, &new.ingredients);
        assert_eq!(
            generic,
            [format!("files of src changed ({} files)", files::MANY + 1)]
        );
        let named = with_file_lists(lists.path(), &old, &new, generic);
        assert_eq!(named, ["file src/f0003 content changed"]);
    }

    #[test]
    fn parent_only_change_says_so() {
        let d = differences(&ing(&[("parent", "a")]), &ing(&[("parent", "b")]));
        assert_eq!(d, ["the previous step changed"]);
        let d = differences(
            &ing(&[("from-content:build", "d1")]),
            &ing(&[("from-content:build", "d2")]),
        );
        assert_eq!(d, ["the files it copies from stage build changed"]);
        let d = differences(
            &ing(&[("parent", "image:x")]),
            &ing(&[("parent", "image:y")]),
        );
        assert_eq!(d, ["base image changed: now y"]);
    }
}
