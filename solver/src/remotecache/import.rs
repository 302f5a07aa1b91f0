//! `--cache-from`: imported cache configs, and what a build does with
//! them. Before anything runs, every step's key is known (dispatch), so
//! the build can tell which steps the store or an imported cache answers;
//! only the stages whose results are still needed run, and only the
//! layers of imported steps in those stages are fetched (BuildKit's lazy
//! remote cache: a fully cached build downloads just the result's layers).

use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use kiln_cache::compression;
use kiln_cache::image::media_type;
use kiln_cache::registry::{Platform, RegistryConfig};
use kiln_cache::units::human_size;
use kiln_cache::{Digest, NewRecord, NewSnapshot, RecordKind, SnapshotId, Store};

use super::error::{with_causes, LayerError};
use super::format::{CacheConfig, CacheEntry, CacheLayer, CACHE_CONFIG_MEDIA_TYPE};
use super::{inline, local, registry, CacheError, CacheFrom, CacheScope};
use crate::dispatch::{Base, StagePlan, Step};
use crate::exporter::image::layer_of_record;
use crate::progress::{Event, Progress};
use crate::BuildError;

/// Where an imported cache's blobs are read from.
pub trait BlobSource: Send + Sync {
    fn describe(&self) -> String;
    /// The blob's bytes, at most `size` of them (the caller verifies).
    fn open(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send + '_>, CacheError>;
}

/// Reads a blob (by digest, at most a size) for [`load_manifest`].
pub type FetchBlob<'a> = dyn Fn(&Digest, u64) -> Result<Vec<u8>, CacheError> + 'a;

/// The stages left to run, and their dependencies.
pub type Schedule = (Vec<Arc<StagePlan>>, HashMap<usize, Vec<usize>>);

/// One imported cache.
pub struct Loaded {
    pub config: CacheConfig,
    pub source: Box<dyn BlobSource>,
}

/// Reads a cache manifest: a kiln cache config, or an image whose config
/// carries one inline. `fetch` returns a blob's bytes (verified here).
pub fn load_manifest(manifest: &[u8], fetch: &FetchBlob<'_>) -> Result<CacheConfig, CacheError> {
    let doc: serde_json::Value = serde_json::from_slice(manifest).map_err(CacheError::Manifest)?;
    let config_desc = &doc["config"];
    let digest = config_desc["digest"]
        .as_str()
        .and_then(|d| Digest::parse(d).ok())
        .ok_or(CacheError::NoConfigDigest)?;
    // The size is the manifest's word: it bounds the read, not trusted further.
    let size = config_desc["size"].as_u64().unwrap_or(0).min(64 << 20);
    let bytes = fetch(&digest, size)?;
    if Digest::of_bytes(&bytes) != digest {
        return Err(CacheError::ConfigDigest(digest));
    }
    if config_desc["mediaType"].as_str() == Some(CACHE_CONFIG_MEDIA_TYPE) {
        return serde_json::from_slice(&bytes).map_err(CacheError::Config);
    }
    let layers = doc["layers"].as_array().cloned().unwrap_or_default();
    inline::extract(&bytes, &layers)?.ok_or(CacheError::NoInlineCache)
}

/// The caches of every `--cache-from`. One that cannot be read is a
/// warning, not an error (BuildKit's: the first CI run has no cache yet).
pub fn load_all(
    from: &[CacheFrom],
    config: &RegistryConfig,
    platform: Option<&Platform>,
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Vec<Loaded> {
    let mut out = Vec::new();
    for f in from {
        let v = vertex.fetch_add(1, Ordering::SeqCst) + 1;
        let (name, loaded, mounts) = match f {
            CacheFrom::Local { src, mounts } => {
                (src.display().to_string(), local::open(src), *mounts)
            }
            CacheFrom::Registry { reference, mounts } => (
                reference.to_string(),
                registry::open(reference, config, platform),
                *mounts,
            ),
        };
        // Without `cache-mounts=true` a cache's mounts are not restored.
        let loaded = loaded.map(|mut l| {
            if !mounts {
                l.config.cache_mounts.clear();
            }
            l
        });
        let started = Instant::now();
        progress.send(Event::Started {
            vertex: v,
            name: format!("importing cache manifest from {name}"),
        });
        match loaded {
            Ok(l) => {
                progress.send(Event::Log {
                    vertex: v,
                    line: format!("{} records", l.config.records.len()),
                });
                out.push(l);
            }
            Err(e) => {
                let e = BuildError::from(e);
                progress.warn(format!(
                    "failed to import cache from {name}: {}",
                    with_causes(&e)
                ));
            }
        }
        progress.send(Event::Done {
            vertex: v,
            elapsed: started.elapsed(),
        });
    }
    out
}

/// A step an imported cache answers: its entry, its layer, where to read it.
struct Found<'a> {
    entry: &'a CacheEntry,
    layer: Option<&'a CacheLayer>,
    source: &'a dyn BlobSource,
}

fn find<'a>(caches: &'a [Loaded], key: &str) -> Option<Found<'a>> {
    caches.iter().find_map(|c| {
        let entry = c.config.records.iter().find(|r| r.key == key)?;
        let layer = match &entry.diff_id {
            None => None,
            Some(d) => Some(c.config.layers.iter().find(|l| &l.diff_id == d)?),
        };
        Some(Found {
            entry,
            layer,
            source: c.source.as_ref(),
        })
    })
}

/// The `created` time an imported cache recorded for a result key.
pub fn created_for<'a>(caches: &'a [Loaded], key: &str) -> Option<&'a str> {
    caches
        .iter()
        .flat_map(|c| c.config.results.iter())
        .find(|r| r.key == key)
        .map(|r| r.created.as_str())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    Local,
    Remote,
    Miss,
}

fn hit(store: &Store, caches: &[Loaded], step: &Step) -> Result<Hit, BuildError> {
    if step.no_cache {
        return Ok(Hit::Miss);
    }
    if let Some(rec) = store.record_by_key(&step.key)? {
        if layer_of_record(store, &rec)?.is_some() {
            return Ok(Hit::Local);
        }
    }
    Ok(match find(caches, &step.key) {
        Some(_) => Hit::Remote,
        None => Hit::Miss,
    })
}

/// The stages that must run: the target, the stages it is built FROM,
/// and the inputs of any step neither the store nor a cache answers.
/// Imported steps of those stages become local records, their layers
/// fetched; every other stage is skipped.
pub fn prepare(
    scope: &CacheScope<'_>,
    deps: &HashMap<usize, Vec<usize>>,
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Result<BTreeSet<usize>, BuildError> {
    let CacheScope {
        store,
        plans,
        target,
        imported: caches,
    } = *scope;
    let mut hits: HashMap<String, Hit> = HashMap::new();
    for plan in plans.values() {
        for step in &plan.steps {
            hits.insert(step.key.clone(), hit(store, caches, step)?);
        }
    }
    let mut run = BTreeSet::new();
    let mut work = vec![target];
    while let Some(i) = work.pop() {
        let Some(plan) = plans.get(&i) else { continue };
        if !run.insert(i) {
            continue;
        }
        if let Base::Stage(j) = plan.base {
            work.push(j);
        }
        if plan
            .steps
            .iter()
            .any(|s| hits.get(&s.key) == Some(&Hit::Miss))
        {
            work.extend(deps.get(&i).into_iter().flatten().copied());
        }
    }
    let imported: Vec<&Step> = run
        .iter()
        .filter_map(|i| plans.get(i))
        .flat_map(|p| p.steps.iter())
        .filter(|s| hits.get(&s.key) == Some(&Hit::Remote))
        .collect();
    if !imported.is_empty() {
        fetch_steps(store, caches, &imported, progress, vertex)?;
    }
    Ok(run)
}

fn fetch_steps(
    store: &Store,
    caches: &[Loaded],
    steps: &[&Step],
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Result<(), BuildError> {
    let v = vertex.fetch_add(1, Ordering::SeqCst) + 1;
    let started = Instant::now();
    progress.send(Event::Started {
        vertex: v,
        name: "importing cached layers".into(),
    });
    for step in steps {
        let Some(found) = find(caches, &step.key) else {
            continue;
        };
        let snapshot = match found.layer {
            Some(layer) => {
                let (snapshot, fetched) = fetch_layer(store, layer, found.source)?;
                let verb = if fetched { "fetched" } else { "present" };
                progress.send(Event::Log {
                    vertex: v,
                    line: format!("{} {} {verb}", layer.digest, human_size(layer.size)),
                });
                Some(snapshot)
            }
            None => None,
        };
        // The step's own ingredients (its key matched), not the remote's text.
        store.add_record(NewRecord {
            cache_key: Some(step.key.clone()),
            parent: None,
            snapshot,
            ingredients: step.ingredients.clone(),
            description: if step.name.is_empty() {
                found.entry.description.clone()
            } else {
                step.name.clone()
            },
            kind: RecordKind::Regular,
        })?;
    }
    progress.send(Event::Done {
        vertex: v,
        elapsed: started.elapsed(),
    });
    Ok(())
}

fn layer_err<E: Into<LayerError>>(layer: &CacheLayer) -> impl Fn(E) -> CacheError + '_ {
    move |e| CacheError::Layer {
        digest: layer.digest.clone(),
        source: e.into(),
    }
}

/// Whether the store has the layer whole: its tar, or a snapshot kiln
/// hashed, from which the tar is made when read.
fn whole_here(store: &Store, snapshot: &SnapshotId) -> bool {
    store.named_layer(snapshot).is_ok_and(|l| l.is_some())
}

/// A cached layer into the store: its compressed blob (verified), the
/// plain tar under its diff_id (what built layers are), and a snapshot;
/// the compressed blob is remembered as the layer's variant so a later
/// push or export reuses it. Returns whether anything was downloaded.
fn fetch_layer(
    store: &Store,
    layer: &CacheLayer,
    source: &dyn BlobSource,
) -> Result<(SnapshotId, bool), BuildError> {
    let digest = Digest::parse(&layer.digest).map_err(layer_err(layer))?;
    let diff_id = Digest::parse(&layer.diff_id).map_err(layer_err(layer))?;
    let compression = media_type::layer_compression(&layer.media_type)
        .ok_or_else(|| layer_err(layer)(LayerError::MediaType(layer.media_type.clone())))?;
    let existing = store.snapshot_by_diff_id(&diff_id)?;
    if let Some(s) = existing.clone().filter(|s| whole_here(store, s)) {
        return Ok((s, false));
    }
    let mut fetched = false;
    if !store.has_blob(&digest)? {
        let mut writer = store.blob_writer()?;
        let mut body = source.open(&digest, layer.size)?;
        io::copy(&mut body, &mut writer).map_err(layer_err(layer))?;
        writer.commit(Some(&digest))?;
        fetched = true;
    }
    if !store.has_blob(&diff_id)? {
        let input = BufReader::with_capacity(1 << 20, store.open_blob(&digest)?);
        let (_, mut plain) = compression::decoder(input).map_err(layer_err(layer))?;
        let mut writer = store.blob_writer()?;
        io::copy(&mut plain, &mut writer).map_err(layer_err(layer))?;
        writer.commit(Some(&diff_id))?;
    }
    if compression != compression::Compression::None {
        let blob = kiln_cache::BlobRef {
            digest,
            size: store.blob_size(&digest)?,
        };
        store.record_compressed_variant(&diff_id, compression.as_str(), &blob)?;
    }
    let snapshot = match existing {
        Some(s) => s,
        None => {
            let staging = store.new_snapshot_staging()?;
            let applied =
                kiln_cache::layer::apply::apply(store.open_blob(&diff_id)?, staging.path())
                    .map_err(layer_err(layer))?;
            if applied.diff_id != diff_id {
                return Err(layer_err(layer)(LayerError::DiffId).into());
            }
            store.commit_snapshot(
                staging,
                NewSnapshot {
                    diff_id: Some(diff_id),
                    tar_size: None,
                    parent: None,
                    created_by: format!("cache import {digest}"),
                },
            )?
        }
    };
    Ok((snapshot, fetched))
}

/// A fully cached build takes the `created` time the imported cache
/// recorded for its result: the config (and so the image digest) is then
/// the one the exporting machine made. Only this build's own timestamps
/// (`now`) are replaced; the base image's history keeps its own.
pub fn reuse_created(config: &mut kiln_cache::image::ImageConfig, now: &str, then: &str) {
    if let Some(history) = config.doc.get_mut("history").and_then(|h| h.as_array_mut()) {
        for entry in history {
            if entry.get("created").and_then(|c| c.as_str()) == Some(now) {
                entry["created"] = serde_json::Value::String(then.to_string());
            }
        }
    }
    if config.doc.get("created").and_then(|c| c.as_str()) == Some(now) {
        config.doc["created"] = serde_json::Value::String(then.to_string());
    }
}

/// Drops from `plans` the stages an imported cache makes unnecessary
/// (see [`prepare`]), fetching the imported layers of the others. With
/// no imported cache every stage runs, as before.
pub fn skip_stages(
    scope: &CacheScope<'_>,
    (plans, deps): Schedule,
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Result<Schedule, BuildError> {
    if scope.imported.is_empty() {
        return Ok((plans, deps));
    }
    let run = prepare(scope, &deps, progress, vertex)?;
    let plans: Vec<Arc<StagePlan>> = plans
        .into_iter()
        .filter(|p| run.contains(&p.index))
        .collect();
    super::cachemount::restore_all(scope.store, scope.imported, &plans, progress, vertex)?;
    let deps = deps
        .into_iter()
        .filter(|(i, _)| run.contains(i))
        .map(|(i, d)| (i, d.into_iter().filter(|x| run.contains(x)).collect()))
        .collect();
    Ok((plans, deps))
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
