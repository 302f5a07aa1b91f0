//! Which records a `--cache-to` writes, and their layers compressed for
//! shipping. `mode=min` takes the stages whose layers are in the result
//! (the target and the stages it is built FROM); `mode=max` every stage
//! the build ran, so a later build can skip an intermediate stage too.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use kiln_cache::compression::Compression;
use kiln_cache::{BlobRef, LayerRecord, Store};
use serde_json::json;

use super::format::{
    CacheConfig, CacheEntry, CacheLayer, CacheResult, CACHE_CONFIG_MEDIA_TYPE,
    CACHE_MOUNT_ID_ANNOTATION, CACHE_MOUNT_MEDIA_TYPE, VERSION,
};
use super::{CacheError, CacheScope, Mode};
use crate::dispatch::{Base, StagePlan};
use crate::exporter::compress::compressed;
use crate::exporter::image::layer_of_record;
use crate::BuildError;

/// The stages `mode` exports, in index order.
fn stages(plans: &HashMap<usize, Arc<StagePlan>>, target: usize, mode: Mode) -> Vec<usize> {
    let mut out = BTreeSet::new();
    match mode {
        Mode::Max => out.extend(plans.keys().copied()),
        Mode::Min => {
            let mut next = Some(target);
            while let Some(i) = next {
                out.insert(i);
                next = match plans.get(&i).map(|p| &p.base) {
                    Some(Base::Stage(j)) if !out.contains(j) => Some(*j),
                    _ => None,
                };
            }
        }
    }
    out.into_iter().collect()
}

/// The cache config for this build's records (layers not yet filled in)
/// and the local layers they name, one per diff_id. Steps this store has
/// no record of (skipped thanks to an imported cache) are left out.
pub fn collect(
    scope: &CacheScope<'_>,
    mode: Mode,
    created: &str,
) -> Result<(CacheConfig, Vec<LayerRecord>), BuildError> {
    let CacheScope {
        store,
        plans,
        target,
        ..
    } = *scope;
    let mut config = CacheConfig {
        version: VERSION,
        ..CacheConfig::default()
    };
    let mut layers: Vec<LayerRecord> = Vec::new();
    for i in stages(plans, target, mode) {
        let Some(plan) = plans.get(&i) else { continue };
        let mut parent = plan.base_key.clone();
        for step in &plan.steps {
            let record = store.record_by_key(&step.key)?;
            let layer = match &record {
                Some(r) => layer_of_record(store, r)?,
                None => None,
            };
            // A deferred layer's tar is written now: the cache ships it.
            let layer = match layer {
                Some(Some(l)) => Some(Some(l.named(store)?)),
                other => other.map(|_| None),
            };
            if let Some(layer) = layer {
                let diff_id = layer.as_ref().map(|l| l.diff_id.to_string());
                if let Some(l) = layer.filter(|l| !layers.iter().any(|x| x.diff_id == l.diff_id)) {
                    layers.push(l);
                }
                config.records.push(CacheEntry {
                    key: step.key.clone(),
                    parent: parent.clone(),
                    description: step.name.clone(),
                    ingredients: step.ingredients.clone(),
                    diff_id,
                });
            }
            parent = step.key.clone();
        }
    }
    if let Some(plan) = plans.get(&target) {
        config.results.push(CacheResult {
            key: plan.final_key.clone(),
            created: created.to_string(),
        });
    }
    Ok((config, layers))
}

/// Compresses `layers` (gzip, as BuildKit exports) and lists them in
/// `config`; returns the blobs to ship with their descriptors' records.
pub fn ship_layers(
    store: &Store,
    config: &mut CacheConfig,
    layers: &[LayerRecord],
) -> Result<Vec<LayerRecord>, BuildError> {
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        let (blob, media_type) = compressed(store, l, Compression::Gzip)?;
        config.layers.push(CacheLayer {
            diff_id: l.diff_id.to_string(),
            media_type: media_type.clone(),
            digest: blob.digest.to_string(),
            size: blob.size,
        });
        out.push(LayerRecord {
            blob,
            media_type,
            diff_id: l.diff_id,
            snapshot: l.snapshot.clone(),
        });
    }
    Ok(out)
}

/// The cache config blob and an OCI manifest naming it and the layers,
/// both stored: what a local layout or a registry receives.
pub fn manifest(
    store: &Store,
    config: &CacheConfig,
    layers: &[LayerRecord],
) -> Result<(BlobRef, BlobRef), BuildError> {
    let bad = CacheError::EncodeConfig;
    let config_bytes = kiln_cache::image::json::canonical(config).map_err(bad)?;
    let config_ref = store.put_blob_bytes(&config_bytes)?;
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": kiln_cache::image::media_type::OCI_MANIFEST,
        "config": {
            "mediaType": CACHE_CONFIG_MEDIA_TYPE,
            "digest": config_ref.digest.to_string(),
            "size": config_ref.size,
        },
        "layers": layers.iter().map(|l| descriptor(config, l)).collect::<Vec<_>>(),
    });
    let manifest_bytes = kiln_cache::image::json::canonical(&doc).map_err(bad)?;
    let manifest_ref = store.put_blob_bytes(&manifest_bytes)?;
    Ok((config_ref, manifest_ref))
}

/// A layer's manifest descriptor; a cache mount's names its id.
fn descriptor(config: &CacheConfig, l: &LayerRecord) -> serde_json::Value {
    let mut desc = json!({
        "mediaType": l.media_type,
        "digest": l.blob.digest.to_string(),
        "size": l.blob.size,
    });
    let digest = l.blob.digest.to_string();
    let mount = config.cache_mounts.iter().find(|m| m.digest == digest);
    if let Some(m) = mount.filter(|_| l.media_type == CACHE_MOUNT_MEDIA_TYPE) {
        desc["annotations"] = json!({ CACHE_MOUNT_ID_ANNOTATION: m.id });
    }
    desc
}
