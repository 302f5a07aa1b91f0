//! `build --squash` (Docker's experimental flag): the layers the final
//! stage added over its base become one. The base's layers stay; the new
//! layer is what a container of the image sees above them, so a file made
//! and deleted within the build is not in it at all, and a base file the
//! build deleted is a whiteout. History keeps every entry, the squashed
//! ones marked `empty_layer`, and gains Docker's `merge … to …` entry for
//! the merged layer.

use std::fs;
use std::path::{Path, PathBuf};

use kiln_cache::image::ImageConfig;
use kiln_cache::layer::whiteout;
use kiln_cache::{LayerRecord, Store};
use serde_json::{json, Value};

use super::error::ExportError;
use super::image::commit_step_layer;
use crate::ops::layered::Layered;
use crate::ops::mounts::tree::materialize;
use crate::stage_layer::{self, StageLayer};
use crate::BuildError;

/// `layers` with those past the first `base` merged into one; `config`'s
/// history and diff_ids follow. Nothing changes when the build added no
/// layer.
pub fn squash(
    store: &Store,
    config: &mut ImageConfig,
    layers: Vec<StageLayer>,
    base: usize,
    source_date_epoch: Option<i64>,
) -> Result<Vec<LayerRecord>, BuildError> {
    if layers.len() <= base {
        return stage_layer::named(store, config, layers);
    }
    let dirs = |ls: &[StageLayer]| -> Vec<PathBuf> {
        ls.iter()
            .rev()
            .map(|l| store.snapshot_path(l.snapshot()))
            .collect()
    };
    let (base_layers, added) = layers.split_at(base);
    // The added layers' own tars are never needed: only the merge's is.
    let below = base_layers
        .iter()
        .map(|l| l.clone().named(store))
        .collect::<Result<Vec<_>, _>>()?;
    let staging = store.new_snapshot_staging()?;
    let tree = |cause| ExportError::Tree {
        path: staging.path().to_path_buf(),
        cause,
    };
    materialize(
        &Layered::new(dirs(added)),
        Path::new(""),
        staging.path(),
        false,
    )
    .map_err(tree)?;
    let views = Views {
        base: Layered::new(dirs(base_layers)),
        all: Layered::new(dirs(&layers)),
    };
    for dir in dirs(added) {
        mark_deletions(&views, &dir, Path::new(""), staging.path())
            .map_err(ExportError::write(staging.path()))?;
    }
    let comment = format!(
        "merge {} layers to {}",
        added.len(),
        below
            .last()
            .map_or("scratch".to_string(), |l| l.diff_id.to_string())
    );
    let parent = below.last().map(|l| &l.snapshot);
    let merged = commit_step_layer(store, staging, parent, &comment, source_date_epoch)?;
    let mut kept = below;
    kept.push(merged);
    rewrite_history(config, added.len(), &comment);
    let created = created_of(config);
    let diff_ids = kept.iter().map(|l| l.diff_id.to_string()).collect();
    config.finish(diff_ids, &created);
    Ok(kept)
}

/// The base's filesystem and the whole image's.
struct Views {
    base: Layered,
    all: Layered,
}

/// Walks one added layer at `rel`: a whiteout of a base path the image no
/// longer has becomes a whiteout in `out`, and an opaque directory an
/// opaque one (it hides the base's entries below it).
fn mark_deletions(views: &Views, layer: &Path, rel: &Path, out: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(layer.join(rel))? {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        let meta = fs::symlink_metadata(entry.path())?;
        let target = out.join(&rel);
        if whiteout::is_overlay_whiteout(&meta) {
            let gone = views.all.lookup(&rel).is_none();
            let in_base = views.base.lookup(&rel).is_some();
            let parent_kept = target.parent().is_some_and(Path::is_dir);
            if gone && in_base && parent_kept && fs::symlink_metadata(&target).is_err() {
                whiteout::make_overlay_whiteout(&target)?;
            }
        } else if meta.is_dir() {
            if whiteout::is_opaque(&entry.path())? && target.is_dir() {
                whiteout::set_opaque(&target)?;
            }
            mark_deletions(views, layer, &rel, out)?;
        }
    }
    Ok(())
}

/// The image's `created` time.
fn created_of(config: &ImageConfig) -> String {
    let created = config.doc.get("created").and_then(Value::as_str);
    created.unwrap_or_default().to_string()
}

/// Marks the history entries of the `squashed` layers `empty_layer` (the
/// last that made one: a base image's history may not have an entry per
/// layer) and appends the merged layer's.
fn rewrite_history(config: &mut ImageConfig, squashed: usize, comment: &str) {
    let created = created_of(config);
    let Some(Value::Array(history)) = config.doc.get_mut("history") else {
        return;
    };
    let layered = history
        .iter_mut()
        .rev()
        .filter(|e| e.get("empty_layer").and_then(Value::as_bool) != Some(true));
    for entry in layered.take(squashed) {
        entry["empty_layer"] = Value::Bool(true);
    }
    history.push(json!({ "created": created, "comment": comment }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_marks_the_squashed_entries_and_names_the_merge() {
        let mut config = ImageConfig::empty();
        config.doc["created"] = json!("2026-01-01T00:00:00Z");
        config.doc["history"] = json!([
            {"created_by": "ADD rootfs"},
            {"created_by": "CMD sh", "empty_layer": true},
            {"created_by": "RUN a"},
            {"created_by": "RUN b"},
        ]);
        rewrite_history(&mut config, 2, "merge 2 layers to sha256:x");
        let h = config.doc["history"].as_array().unwrap();
        let empty: Vec<bool> = h
            .iter()
            .map(|e| e.get("empty_layer").and_then(Value::as_bool) == Some(true))
            .collect();
        assert_eq!(empty, [false, true, true, true, false]);
        assert_eq!(h[4]["comment"], "merge 2 layers to sha256:x");
        assert_eq!(h[4]["created"], "2026-01-01T00:00:00Z");
    }

    /// Whiteouts are device nodes: making them needs root.
    fn privileged() -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        if std::env::var("KILN_SKIP_PRIVILEGED").as_deref() == Ok("1") {
            eprintln!("skipped: needs root (KILN_SKIP_PRIVILEGED=1)");
            return false;
        }
        panic!("this test needs root; set KILN_SKIP_PRIVILEGED=1 to skip it");
    }

    fn layer(store: &Store, parent: Option<&LayerRecord>, make: impl Fn(&Path)) -> LayerRecord {
        let staging = store.new_snapshot_staging().unwrap();
        make(staging.path());
        commit_step_layer(store, staging, parent.map(|l| &l.snapshot), "t", None).unwrap()
    }

    #[test]
    fn deletions_within_the_build_vanish_and_of_the_base_stay_whiteouts() {
        if !privileged() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let base = layer(&store, None, |d| {
            fs::write(d.join("keep"), "k").unwrap();
            fs::write(d.join("del"), "d").unwrap();
            fs::create_dir(d.join("dir")).unwrap();
            fs::write(d.join("dir/old"), "o").unwrap();
        });
        let made = layer(&store, Some(&base), |d| {
            fs::write(d.join("made"), "m").unwrap();
            fs::write(d.join("brief"), "b").unwrap();
        });
        let cleaned = layer(&store, Some(&made), |d| {
            whiteout::make_overlay_whiteout(&d.join("del")).unwrap();
            whiteout::make_overlay_whiteout(&d.join("brief")).unwrap();
            fs::create_dir(d.join("dir")).unwrap();
            whiteout::set_opaque(&d.join("dir")).unwrap();
            fs::write(d.join("dir/new"), "n").unwrap();
        });
        let mut config = ImageConfig::empty();
        config.doc["history"] = json!([{}, {}, {}]);
        let layers = vec![
            StageLayer::Named(base.clone()),
            StageLayer::Deferred(made.snapshot),
            StageLayer::Deferred(cleaned.snapshot),
        ];
        let kept = squash(&store, &mut config, layers, 1, None).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], base);
        let top = store.snapshot_path(&kept[1].snapshot);
        assert_eq!(fs::read_to_string(top.join("made")).unwrap(), "m");
        assert!(
            fs::symlink_metadata(top.join("brief")).is_err(),
            "made and deleted"
        );
        assert!(
            fs::symlink_metadata(top.join("keep")).is_err(),
            "the base's"
        );
        let del = fs::symlink_metadata(top.join("del")).unwrap();
        assert!(whiteout::is_overlay_whiteout(&del), "a base file deleted");
        assert!(whiteout::is_opaque(&top.join("dir")).unwrap());
        assert_eq!(fs::read_to_string(top.join("dir/new")).unwrap(), "n");
        let diff_ids = config.doc["rootfs"]["diff_ids"].as_array().unwrap().len();
        assert_eq!(diff_ids, 2);
    }
}
