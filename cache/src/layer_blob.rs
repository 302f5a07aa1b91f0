//! A snapshot's layer tar, written when something first needs it.
//!
//! A build keeps only the snapshot of a step whose image may never be made
//! (a builder stage's toolchain, a step `--squash` merges away); its tar,
//! diff_id and size come from the snapshot directory when an image, an
//! export or a cache export asks, and are kept from then on. The tar is
//! deterministic in the directory's content, so writing it late gives the
//! bytes writing it early would have.

use redb::ReadableTable;

use crate::blobs::BlobRef;
use crate::digest::Digest;
use crate::layer::{diff, DiffOptions};
use crate::meta::{self, DIFF_IDS, SNAPSHOTS};
use crate::snapshot::{snapshot_in, SnapshotId};
use crate::store::{Store, StoreError};

impl Store {
    /// The uncompressed layer blob of snapshot `id` (its digest is the
    /// layer's diff_id), written from the snapshot's directory now when
    /// the store has none. The blob is leased to this process.
    pub fn layer_blob(&self, id: &SnapshotId) -> Result<BlobRef, StoreError> {
        let info = self
            .snapshot(id)?
            .ok_or_else(|| StoreError::SnapshotNotFound(id.to_string()))?;
        if let Some(diff_id) = info.diff_id {
            if self.has_blob(&diff_id)? {
                let size = self.blob_size(&diff_id)?;
                return Ok(BlobRef {
                    digest: diff_id,
                    size,
                });
            }
        }
        let written = self.write_layer_blob(id)?;
        crate::crashpoint::crash_point("layer-blob-before-record");
        match info.diff_id {
            // A snapshot that names its diff_id must give it again: one
            // that does not was changed on disk (`cache check` says so).
            Some(expected) if expected != written.digest => Err(StoreError::LayerChanged {
                snapshot: id.to_string(),
                expected,
                actual: written.digest,
            }),
            Some(_) => Ok(written),
            None => {
                self.record_diff_id(id, &written.digest)?;
                Ok(written)
            }
        }
    }

    fn write_layer_blob(&self, id: &SnapshotId) -> Result<BlobRef, StoreError> {
        let dir = self.snapshot_path(id);
        let failed = |source| StoreError::LayerTar {
            snapshot: id.to_string(),
            source,
        };
        // The tar hashes its own bytes (its diff_id); the store does not
        // hash them again.
        let writer = self.blob_writer_hashed_by_caller()?;
        let (writer, digests) = diff(&dir, writer, &DiffOptions::default()).map_err(failed)?;
        writer.commit(Some(&digests.digest))
    }

    /// Notes the diff_id a deferred snapshot's tar turned out to have, and
    /// that the snapshot holds that layer (unless another one already does).
    fn record_diff_id(&self, id: &SnapshotId, diff_id: &Digest) -> Result<(), StoreError> {
        let mut session = self.write_session()?;
        let Some(mut info) = snapshot_in(&mut session, id)? else {
            return Err(StoreError::SnapshotNotFound(id.to_string()));
        };
        info.diff_id = Some(*diff_id);
        let tx = session.write()?;
        {
            let mut snapshots = tx.open_table(SNAPSHOTS).map_err(meta::MetaError::from)?;
            snapshots
                .insert(id.as_str(), meta::encode(&info)?.as_slice())
                .map_err(meta::MetaError::from)?;
            let mut diff_ids = tx.open_table(DIFF_IDS).map_err(meta::MetaError::from)?;
            let key = diff_id.to_string();
            if diff_ids
                .get(key.as_str())
                .map_err(meta::MetaError::from)?
                .is_none()
            {
                diff_ids
                    .insert(key.as_str(), id.as_str())
                    .map_err(meta::MetaError::from)?;
            }
        }
        tx.commit().map_err(meta::MetaError::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::layer::{diff, DiffOptions};
    use crate::snapshot::NewSnapshot;
    use crate::{Store, StoreError};

    fn deferred(store: &Store, content: &str) -> crate::SnapshotId {
        let staging = store.new_snapshot_staging().unwrap();
        fs::create_dir(staging.path().join("etc")).unwrap();
        fs::write(staging.path().join("etc/motd"), content).unwrap();
        let new = NewSnapshot {
            diff_id: None,
            parent: None,
            created_by: "RUN".into(),
        };
        store.commit_snapshot(staging, new).unwrap()
    }

    #[test]
    fn a_deferred_layer_is_written_once_with_the_tar_of_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = deferred(&store, "hello");
        let (_, expected) = diff(
            &store.snapshot_path(&id),
            Vec::new(),
            &DiffOptions::default(),
        )
        .unwrap();
        let blob = store.layer_blob(&id).unwrap();
        assert_eq!(blob.digest, expected.diff_id);
        assert_eq!(blob.size, expected.size);
        assert_eq!(
            store.snapshot(&id).unwrap().unwrap().diff_id,
            Some(blob.digest)
        );
        assert_eq!(
            store.snapshot_by_diff_id(&blob.digest).unwrap(),
            Some(id.clone())
        );
        let placed = fs::metadata(store.blob_path(&blob.digest)).unwrap();
        assert_eq!(store.layer_blob(&id).unwrap(), blob);
        let again = fs::metadata(store.blob_path(&blob.digest)).unwrap();
        assert_eq!(placed.modified().unwrap(), again.modified().unwrap());
        let report = store.check(false, &crate::NoHolds).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn a_snapshot_changed_on_disk_does_not_give_another_layer_under_its_diff_id() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = deferred(&store, "hello");
        let blob = store.layer_blob(&id).unwrap();
        fs::remove_file(store.blob_path(&blob.digest)).unwrap();
        fs::write(store.snapshot_path(&id).join("etc/motd"), "tampered").unwrap();
        match store.layer_blob(&id) {
            Err(StoreError::LayerChanged { expected, .. }) => assert_eq!(expected, blob.digest),
            other => panic!("expected LayerChanged, got {other:?}"),
        }
    }
}
