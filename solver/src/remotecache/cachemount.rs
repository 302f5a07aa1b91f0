//! `cache-mounts=true`: `RUN --mount=type=cache` contents travel with the
//! build cache, so an ephemeral CI runner starts with the package caches
//! the last run filled (moby/buildkit#1474). Each mount id becomes one
//! blob, its directory as a layer tar (deterministic, as built layers are)
//! in zstd, listed in the cache config and the manifest with its id.
//!
//! On import a blob is untrusted: it is unpacked by the layer reader that
//! refuses entries escaping the root, devices and writes through
//! symlinks, into a staging directory, and only then becomes the mount's
//! directory, and only when the store has none for that id or an empty
//! one: a local cache with content is never merged into or replaced.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use kiln_cache::compression::{default_threads, Compression};
use kiln_cache::digesting::DigestingReader;
use kiln_cache::layer::diff::{diff, DiffOptions};
use kiln_cache::units::human_size;
use kiln_cache::{Digest, LayerRecord, Store};

use super::error::with_causes;
use super::format::{CacheConfig, CacheMountBlob, CACHE_MOUNT_MEDIA_TYPE};
use super::import::{BlobSource, Loaded};
use super::{CacheError, CacheScope};
use crate::dispatch::{Op, RunMount, StagePlan};
use crate::ops::mounts::cache;
use crate::progress::{Event, Progress};
use crate::BuildError;

/// The cache mounts the steps of `plans` use, by id: the first use of
/// each (whose owner and mode a restored directory takes).
fn mounts_in<'a>(plans: impl Iterator<Item = &'a StagePlan>) -> BTreeMap<&'a str, &'a RunMount> {
    let mut out = BTreeMap::new();
    for step in plans.flat_map(|p| p.steps.iter()) {
        let Op::Run(run) = &step.op else { continue };
        for m in &run.mounts {
            if let RunMount::Cache { id, .. } = m {
                out.entry(id.as_str()).or_insert(m);
            }
        }
    }
    out
}

/// Bytes of the regular files below `dir` (what the cap measures).
fn content_size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let meta = e.path().symlink_metadata()?;
        if meta.is_dir() {
            total += content_size(&e.path())?;
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Packs every cache mount this build uses that has content, lists it in
/// `config`, and returns the blobs to ship. A mount larger than `max` is
/// left out with a warning naming it and its size.
pub fn pack_all(
    scope: &CacheScope<'_>,
    config: &mut CacheConfig,
    max: Option<u64>,
    progress: &Progress,
) -> Result<Vec<LayerRecord>, BuildError> {
    let store = scope.store;
    let mut out = Vec::new();
    for id in mounts_in(scope.plans.values().map(Arc::as_ref)).into_keys() {
        let mount_err = |source| CacheError::Mount {
            id: id.to_string(),
            source: Box::new(source),
        };
        let Some((dir, snapshot)) = cache::existing(store, id).map_err(mount_err)? else {
            continue;
        };
        let size = content_size(&dir).map_err(|source| CacheError::MountRead {
            id: id.to_string(),
            source,
        })?;
        if let Some(max) = max.filter(|m| size > *m) {
            progress.warn(format!(
                "cache mount {id:?} is {} (cache-mounts-max {}): not exported",
                human_size(size),
                human_size(max)
            ));
            continue;
        }
        // A `locked` or `private` user writing it now would make the tar
        // fail (a file changing size): wait for it, as another reader would.
        let _lock = cache::lock_shared(store, id).map_err(mount_err)?;
        let (blob, diff_id) = pack(store, id, &dir)?;
        config.cache_mounts.push(CacheMountBlob {
            id: id.to_string(),
            media_type: CACHE_MOUNT_MEDIA_TYPE.to_string(),
            digest: blob.digest.to_string(),
            size: blob.size,
        });
        out.push(LayerRecord {
            blob,
            media_type: CACHE_MOUNT_MEDIA_TYPE.to_string(),
            diff_id,
            snapshot,
        });
    }
    Ok(out)
}

/// `dir` as a zstd layer tar in the store: the blob and its diff_id.
fn pack(store: &Store, id: &str, dir: &Path) -> Result<(kiln_cache::BlobRef, Digest), BuildError> {
    let opts = DiffOptions {
        compression: Compression::Zstd,
        threads: default_threads(),
        ..DiffOptions::default()
    };
    // The diff hashes the blob; the store takes its digest.
    let (writer, digests) =
        diff(dir, store.blob_writer_hashed_by_caller()?, &opts).map_err(|source| {
            CacheError::Pack {
                id: id.to_string(),
                source,
            }
        })?;
    let blob = writer.commit(Some(&digests.digest))?;
    Ok((blob, digests.diff_id))
}

/// Before the stages in `plans` run: each cache mount they use that the
/// store has no content for is seeded from the first imported cache that
/// carries it. A blob that cannot be restored (unreadable, or refused as
/// hostile) is a warning and the mount starts empty, as it would have.
pub fn restore_all(
    store: &Store,
    caches: &[Loaded],
    plans: &[Arc<StagePlan>],
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Result<(), BuildError> {
    let mut shown: Option<(usize, Instant)> = None;
    for (id, mount) in mounts_in(plans.iter().map(Arc::as_ref)) {
        let found = caches.iter().find_map(|c| {
            let blob = c.config.cache_mounts.iter().find(|b| b.id == id)?;
            Some((blob, c.source.as_ref()))
        });
        let Some((blob, source)) = found else {
            continue;
        };
        let present = cache::existing(store, id).map_err(|source| CacheError::Mount {
            id: id.to_string(),
            source: Box::new(source),
        })?;
        if present.is_some() {
            continue;
        }
        let (v, _) = *shown.get_or_insert_with(|| {
            let v = vertex.fetch_add(1, Ordering::SeqCst) + 1;
            progress.send(Event::Started {
                vertex: v,
                name: "importing cache mounts".into(),
            });
            (v, Instant::now())
        });
        match restore(store, mount, blob, source) {
            Ok(()) => progress.send(Event::Log {
                vertex: v,
                line: format!("{id} restored ({})", human_size(blob.size)),
            }),
            Err(e) => progress.warn(format!(
                "not restoring from {}: {}",
                source.describe(),
                with_causes(&e)
            )),
        }
    }
    if let Some((v, started)) = shown {
        progress.send(Event::Done {
            vertex: v,
            elapsed: started.elapsed(),
        });
    }
    Ok(())
}

/// One cache mount's blob read from its cache, unpacked by the safe layer
/// reader into a staging directory as it streams in (a store copy of the
/// blob would be written only to be read once), and seeded once the
/// bytes are known to be the ones the cache named.
fn restore(
    store: &Store,
    mount: &RunMount,
    blob: &CacheMountBlob,
    source: &dyn BlobSource,
) -> Result<(), CacheError> {
    let err = |source: RestoreError| CacheError::Restore {
        id: blob.id.clone(),
        source: Box::new(source),
    };
    let digest = Digest::parse(&blob.digest).map_err(|e| err(e.into()))?;
    let staging = store.new_snapshot_staging().map_err(|e| err(e.into()))?;
    let body = BufReader::with_capacity(1 << 20, source.open(&digest, blob.size)?);
    let mut body = DigestingReader::new(body);
    kiln_cache::layer::apply::apply(&mut body, staging.path()).map_err(|e| err(e.into()))?;
    let (read, _) = body.drain().map_err(|e| err(e.into()))?;
    if read != digest {
        return Err(err(RestoreError::BlobDigest(read)));
    }
    cache::seed(store, mount, staging).map_err(|e| err(e.into()))?;
    Ok(())
}

/// Why a cache mount's blob was not restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Digest(#[from] kiln_cache::DigestError),
    #[error("the blob read is {0}, not the digest the cache names")]
    BlobDigest(Digest),
    #[error(transparent)]
    Store(#[from] kiln_cache::StoreError),
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Apply(#[from] kiln_cache::layer::apply::ApplyError),
    #[error(transparent)]
    Mount(#[from] crate::ops::mounts::MountError),
}

#[cfg(test)]
#[path = "cachemount_tests.rs"]
mod tests;
