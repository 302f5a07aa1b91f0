//! `--build-context NAME=DIR` (or a git URL, checked out first) made into
//! a one-layer image, so `FROM NAME`, `COPY --from=NAME` and
//! `RUN --mount=from=NAME` read it as they read any image. The directory's
//! own `.dockerignore` filters it, as BuildKit filters a named local
//! context (never the main build's ignore file, nor `<Dockerfile>.dockerignore`).
//!
//! The layer is found again by a content key (paths, modes and content
//! digests, not mtimes, read through the stat cache), so an unchanged
//! directory costs a walk and no copy, and keys of the steps that read it
//! stay the same.

use std::fs;
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

use kiln_cache::image::ImageConfig;
use kiln_cache::{Ingredient, LayerRecord, NewRecord, RecordKind, Store};
use kiln_parser::ignore::Matcher;

use crate::context::stat_cache::StatCache;
use crate::context::{contenthash, walk, Entry, EntryKind};
use crate::exporter::image::{commit_layer, layer_of_record, write_image};

use super::{load_failed as fail, LoadError, NamedError};

fn file_failed(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |cause| LoadError::File {
        path: path.to_path_buf(),
        cause,
    }
}

fn build_failed(e: crate::BuildError) -> LoadError {
    LoadError::Build(Box::new(e))
}

/// The directory's `.dockerignore`, or nothing excluded.
fn ignore_of(name: &str, dir: &Path) -> Result<Matcher, NamedError> {
    let path = dir.join(".dockerignore");
    // The named context's symlinks resolve inside it, never on the host.
    match crate::context::confined::read_optional(dir, Path::new(".dockerignore")) {
        Ok(Some(bytes)) => Matcher::parse(
            &path.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        )
        .map_err(|e| fail(name)(LoadError::Ignore(e))),
        Ok(None) => Ok(Matcher::default()),
        Err(e) => Err(fail(name)(file_failed(&path)(e))),
    }
}

/// Imports `dir` for context `name`; returns the image ID. `lasting`:
/// the directory outlives the build, so its stat cache is worth keeping.
pub fn import_dir(
    store: &Store,
    name: &str,
    dir: &Path,
    arch: &str,
    lasting: bool,
) -> Result<String, NamedError> {
    let err = fail(name);
    let matcher = ignore_of(name, dir)?;
    let entries = walk(dir, &matcher).map_err(|e| err(LoadError::Context(e)))?;
    let refs: Vec<&Entry> = entries.iter().collect();
    let mut stats = match lasting {
        true => StatCache::load(&store.root().join("builds").join("stat-cache"), dir),
        false => StatCache::in_memory(),
    };
    let digests =
        contenthash::digests(dir, &refs, &mut stats).map_err(|e| err(LoadError::Context(e)))?;
    // The stat cache only saves work; failing to write it is not an error.
    let _ = stats.save();
    let mut key = blake3::Hasher::new();
    key.update(b"named-context-dir\0");
    for (e, d) in entries.iter().zip(&digests) {
        let line = format!("{}\0{:o}\0{d}\n", e.path.display(), e.stat.mode);
        key.update(line.as_bytes());
    }
    let key = format!("named-context:{}", key.finalize().to_hex());
    let layer = match reuse(store, &key).map_err(|e| err(build_failed(e)))? {
        Some(layer) => layer,
        None => {
            let layer = copy_in(store, name, dir, &entries)?;
            store
                .add_record(NewRecord {
                    cache_key: Some(key),
                    parent: None,
                    snapshot: layer.as_ref().map(|l| l.snapshot.clone()),
                    ingredients: vec![Ingredient {
                        name: "named-context".into(),
                        value: format!("{name}={}", dir.display()),
                    }],
                    description: format!("build context {name}"),
                    kind: RecordKind::Regular,
                })
                .map_err(|e| err(LoadError::Store(e)))?;
            layer
        }
    };
    image_of(store, name, layer, arch)
}

fn reuse(store: &Store, key: &str) -> Result<Option<Option<LayerRecord>>, crate::BuildError> {
    let Some(rec) = store.record_by_key(key)? else {
        return Ok(None);
    };
    let found = match layer_of_record(store, &rec)? {
        Some(Some(layer)) => Some(Some(layer.named(store)?)),
        other => other.map(|_| None),
    };
    if found.is_some() {
        let _ = store.use_record(&rec.id);
    }
    Ok(found)
}

/// Copies the kept entries into a new layer (owned by root, as context
/// files arrive in BuildKit).
fn copy_in(
    store: &Store,
    name: &str,
    dir: &Path,
    entries: &[Entry],
) -> Result<Option<LayerRecord>, NamedError> {
    let err = fail(name);
    let staging = store
        .new_snapshot_staging()
        .map_err(|e| err(LoadError::Store(e)))?;
    let mut dirs = Vec::new();
    for e in entries {
        let src = dir.join(&e.path);
        let dest = staging.path().join(&e.path);
        let io = |x| err(file_failed(&src)(x));
        match e.kind {
            EntryKind::Dir => fs::create_dir_all(&dest).map_err(io)?,
            EntryKind::File => {
                fs::copy(&src, &dest).map_err(io)?;
            }
            EntryKind::Symlink => {
                let target = fs::read_link(&src).map_err(io)?;
                std::os::unix::fs::symlink(target, &dest).map_err(io)?;
            }
            EntryKind::Other => continue,
        }
        lchown(&dest, Some(0), Some(0)).map_err(io)?;
        if e.kind == EntryKind::Symlink {
            continue;
        }
        let mode = fs::Permissions::from_mode(e.stat.mode & 0o7777);
        fs::set_permissions(&dest, mode).map_err(io)?;
        let mtime = filetime::FileTime::from_unix_time(e.stat.mtime_sec, e.stat.mtime_nsec as u32);
        match e.kind {
            // Set after what they hold is written, which changes them.
            EntryKind::Dir => dirs.push((dest, mtime)),
            _ => filetime::set_file_mtime(&dest, mtime).map_err(io)?,
        }
    }
    for (dest, mtime) in dirs.iter().rev() {
        filetime::set_file_mtime(dest, *mtime).map_err(|x| err(file_failed(dest)(x)))?;
    }
    commit_layer(store, staging, None, &format!("build context {name}"), None)
        .map_err(|e| err(build_failed(e)))
}

/// A scratch image holding `layer`.
fn image_of(
    store: &Store,
    name: &str,
    layer: Option<LayerRecord>,
    arch: &str,
) -> Result<String, NamedError> {
    let created = kiln_cache::image::config::timestamp(SystemTime::UNIX_EPOCH);
    let mut config = ImageConfig::scratch(arch);
    let layers: Vec<LayerRecord> = layer.into_iter().collect();
    if !layers.is_empty() {
        config.push_history(&created, &format!("build context {name}"), false);
    }
    config.finish(
        layers.iter().map(|l| l.diff_id.to_string()).collect(),
        &created,
    );
    let image =
        write_image(store, &config, &layers, &[]).map_err(|e| fail(name)(build_failed(e)))?;
    Ok(image.id().to_string())
}
