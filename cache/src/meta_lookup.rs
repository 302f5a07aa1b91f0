//! The cache hits of a whole build, resolved in one store session.
//!
//! Opening `meta.db` costs a few disk flushes (redb marks the file in use
//! on open and clean on close), so a fully cached build that looked each
//! step up on its own paid for dozens of opens. [`Store::take_cached`]
//! answers every key at once: one read transaction finds the records,
//! their snapshots and layer blobs, and one line per hit in the usage
//! journal marks them used (`usage.rs`): a fully cached build writes
//! nothing durable and opens nothing for writing.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::blobs::BlobRef;
use crate::lock::Leased;
use crate::meta::{self, MetaError, RECORDS, RECORD_KEYS, SNAPSHOTS};
use crate::snapshot::{SnapshotId, SnapshotInfo};
use crate::store::{Store, StoreError};
use crate::usage;

/// A cache key whose result is in the store, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedStep {
    /// The record's ID.
    pub record: String,
    /// The layer the step made; `None` for a step without one.
    pub layer: Option<CachedLayer>,
}

/// A cached step's layer: its snapshot and, once written, its
/// uncompressed blob (whose digest is the diff_id; see
/// [`Store::layer_blob`] for a layer whose tar was deferred).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedLayer {
    pub snapshot: SnapshotId,
    pub blob: Option<BlobRef>,
}

/// The part of a [`crate::CacheRecord`] a lookup reads.
#[derive(serde::Deserialize)]
struct RecordHead {
    #[serde(default)]
    snapshot: Option<SnapshotId>,
}

type ReadTables = (
    redb::ReadOnlyTable<&'static str, &'static str>,
    redb::ReadOnlyTable<&'static str, &'static [u8]>,
    redb::ReadOnlyTable<&'static str, &'static [u8]>,
);

impl Store {
    /// For each key whose record and layer are all present: the hit. Hits
    /// are leased to this process (a prune running meanwhile keeps them)
    /// and marked used. Keys without a record, or whose snapshot or blob
    /// is gone, are left out: the step runs again.
    pub fn take_cached(&self, keys: &[&str]) -> Result<HashMap<String, CachedStep>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut session = self.session()?;
        let mut hits = HashMap::new();
        let mut used = Vec::new();
        {
            let tx = session.read()?;
            let tables: ReadTables = (
                tx.open_table(RECORD_KEYS).map_err(MetaError::from)?,
                tx.open_table(RECORDS).map_err(MetaError::from)?,
                tx.open_table(SNAPSHOTS).map_err(MetaError::from)?,
            );
            for key in keys {
                if hits.contains_key(*key) {
                    continue;
                }
                if let Some((step, record)) = self.resolve(&tables, key)? {
                    hits.insert(key.to_string(), step);
                    used.push(record);
                }
            }
        }
        if used.is_empty() {
            return Ok(hits);
        }
        let journal = usage::append(
            self.root(),
            used.iter().map(String::as_str),
            SystemTime::now(),
        )?;
        if journal >= usage::FOLD_AT {
            session.fold_usage()?;
        }
        Ok(hits)
    }

    fn resolve(
        &self,
        (keys, records, snapshots): &ReadTables,
        key: &str,
    ) -> Result<Option<(CachedStep, String)>, StoreError> {
        let Some(id) = keys.get(key).map_err(MetaError::from)? else {
            return Ok(None);
        };
        let id = id.value().to_string();
        let Some(raw) = records.get(id.as_str()).map_err(MetaError::from)? else {
            return Ok(None);
        };
        // Only the snapshot is needed here: the ingredients are skipped
        // unparsed.
        let record: RecordHead = meta::decode("records", &id, raw.value())?;
        let layer = match &record.snapshot {
            None => None,
            Some(s) => {
                let info: Option<SnapshotInfo> =
                    meta::get_json(snapshots, "snapshots", s.as_str())?;
                match info.and_then(|i| self.layer(&i)) {
                    Some(layer) => Some(self.leased(layer)?),
                    None => return Ok(None),
                }
            }
        };
        let step = CachedStep {
            record: id.clone(),
            layer,
        };
        Ok(Some((step, id)))
    }

    /// The layer of `snapshot` as a cache hit would give it (see
    /// [`CachedLayer`]), leased to this process; `None` when it cannot
    /// be used.
    pub fn cached_layer(&self, snapshot: &SnapshotId) -> Result<Option<CachedLayer>, StoreError> {
        let Some(info) = self.snapshot(snapshot)? else {
            return Ok(None);
        };
        self.layer(&info).map(|l| self.leased(l)).transpose()
    }

    fn leased(&self, layer: CachedLayer) -> Result<CachedLayer, StoreError> {
        self.lease()?
            .add(&Leased::Snapshot(layer.snapshot.as_str().to_string()))?;
        if let Some(blob) = &layer.blob {
            self.lease()?.add(&Leased::Blob(blob.digest))?;
        }
        Ok(layer)
    }

    /// The layer when its directory is on disk: named when the snapshot
    /// knows its tar (kiln hashed it) or its blob is on disk (a layer from
    /// before), deferred when it names no diff_id. One that names a
    /// diff_id it cannot give (its blob gone) is no use.
    fn layer(&self, info: &SnapshotInfo) -> Option<CachedLayer> {
        if !self.snapshot_path(&info.id).is_dir() {
            return None;
        }
        let blob = match (info.hashed_layer(), info.diff_id) {
            (Some(layer), _) => Some(layer),
            (None, None) => None,
            (None, Some(digest)) => {
                let meta = std::fs::metadata(self.blob_path(&digest)).ok()?;
                let size = meta.is_file().then_some(meta.len())?;
                Some(BlobRef { digest, size })
            }
        };
        Some(CachedLayer {
            snapshot: info.id.clone(),
            blob,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::record::{Ingredient, NewRecord, RecordKind};
    use crate::snapshot::NewSnapshot;
    use crate::Store;

    fn record(store: &Store, key: &str, with_layer: bool) -> String {
        let snapshot = with_layer.then(|| {
            let staging = store.new_snapshot_staging().unwrap();
            std::fs::write(staging.path().join("f"), key).unwrap();
            let blob = store.put_blob_bytes(key.as_bytes()).unwrap();
            store
                .commit_snapshot(
                    staging,
                    NewSnapshot {
                        diff_id: Some(blob.digest),
                        tar_size: None,
                        parent: None,
                        created_by: String::new(),
                    },
                )
                .unwrap()
        });
        store
            .add_record(NewRecord {
                cache_key: Some(key.into()),
                parent: None,
                snapshot,
                ingredients: vec![Ingredient {
                    name: "kind".into(),
                    value: "RUN".into(),
                }],
                description: key.into(),
                kind: RecordKind::Regular,
            })
            .unwrap()
            .id
    }

    #[test]
    fn finds_whole_hits_and_marks_them_used() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let with = record(&store, "k1", true);
        let without = record(&store, "k2", false);
        let hits = store.take_cached(&["k1", "k2", "missing"]).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits["k1"].record, with);
        let layer = hits["k1"].layer.as_ref().unwrap();
        assert_eq!(layer.blob.unwrap().size, 2);
        assert!(hits["k2"].layer.is_none());
        assert_eq!(hits["k2"].record, without);
        assert_eq!(store.record(&with).unwrap().unwrap().usage_count, 1);
    }

    #[test]
    fn hits_leave_meta_db_as_it_was_until_the_next_write_folds_them() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = record(&store, "k", true);
        let db = root.path().join("meta.db");
        let before = std::fs::read(&db).unwrap();
        store.take_cached(&["k"]).unwrap();
        store.take_cached(&["k"]).unwrap();
        assert!(std::fs::read(&db).unwrap() == before, "meta.db was written");
        assert_eq!(store.record(&id).unwrap().unwrap().usage_count, 2);
        assert_eq!(store.records().unwrap()[0].usage_count, 2);
        record(&store, "other", false);
        assert!(!root.path().join("usage.log").exists());
        assert_eq!(store.record(&id).unwrap().unwrap().usage_count, 2);
        assert_eq!(store.use_record(&id).unwrap().usage_count, 3);
        assert_eq!(store.find_record(&id[..8]).unwrap().usage_count, 3);
    }

    #[test]
    fn a_record_whose_snapshot_is_gone_is_a_miss() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = record(&store, "k", true);
        let snapshot = store.record(&id).unwrap().unwrap().snapshot.unwrap();
        std::fs::remove_dir_all(store.snapshot_path(&snapshot)).unwrap();
        assert!(store.take_cached(&["k"]).unwrap().is_empty());
    }

    #[test]
    fn a_deferred_layer_is_a_hit_without_a_blob() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let staging = store.new_snapshot_staging().unwrap();
        std::fs::write(staging.path().join("f"), "x").unwrap();
        let new = NewSnapshot {
            diff_id: None,
            tar_size: None,
            parent: None,
            created_by: String::new(),
        };
        let snapshot = store.commit_snapshot(staging, new).unwrap();
        store
            .add_record(NewRecord {
                cache_key: Some("k".into()),
                parent: None,
                snapshot: Some(snapshot.clone()),
                ingredients: Vec::new(),
                description: "k".into(),
                kind: RecordKind::Regular,
            })
            .unwrap();
        let hits = store.take_cached(&["k"]).unwrap();
        let layer = hits["k"].layer.as_ref().unwrap();
        assert_eq!((&layer.snapshot, layer.blob), (&snapshot, None));
    }
}
