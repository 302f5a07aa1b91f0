//! An image's new content made durable with one flush. A pull of ten layers
//! that flushed each blob, each snapshot, each directory and each snapshot's
//! metadata commit as it came made 31 fsyncs and 84 fdatasyncs. Staged,
//! blobs and snapshots wait in `tmp/`, verified but unflushed; then one
//! `syncfs` of the store's filesystem puts all their bytes on disk, the
//! renames make them visible (a blob under its digest, a snapshot under its
//! ID, only now that their bytes are on disk), `blobs/` and `snapshots/`
//! are flushed once each so the new names are too, and only then does the
//! metadata that names them commit, with the image, in one transaction.
//! The store's invariants hold at every instant: a crash leaves staging of
//! a dead process in `tmp/`, or placed content nothing records, and GC
//! removes both.

use crate::blobs::{BlobRef, StagedBlob};
use crate::crashpoint::crash_point;
use crate::durable;
use crate::image_store::{add_image_in, ImageRecord, NewImage};
use crate::meta::MetaError;
use crate::reference::Reference;
use crate::snapshot::{insert_snapshot, Placed, SnapshotId, SnapshotInfo, StagedSnapshot};
use crate::store::{io_context, Store, StoreError, BLOBS_DIR, SNAPSHOTS_DIR, TMP_DIR};

/// Blobs and snapshots staged for one image.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    blobs: Vec<StagedBlob>,
    snapshots: Vec<StagedSnapshot>,
}

impl Staged {
    pub(crate) fn add_blob(&mut self, blob: StagedBlob) -> BlobRef {
        let r = blob.blob;
        self.blobs.push(blob);
        r
    }

    /// The ID the snapshot will have, unless the store gets the same layer
    /// first ([`Store::add_staged_image`] then names that one instead).
    pub(crate) fn add_snapshot(&mut self, snapshot: StagedSnapshot) -> SnapshotId {
        let id = snapshot.info.id.clone();
        self.snapshots.push(snapshot);
        id
    }

    pub(crate) fn extend(&mut self, other: Staged) {
        let Staged { blobs, snapshots } = other;
        self.blobs.extend(blobs);
        self.snapshots.extend(snapshots);
    }

    fn is_placed(&self) -> bool {
        self.snapshots.is_empty() && self.blobs.iter().all(|b| b.tmp.is_none())
    }
}

impl Store {
    /// Makes `staged` durable and visible, then records `new` (whose layers
    /// name the staged snapshots) and points `tags` at it; see the module.
    pub(crate) fn add_staged_image(
        &self,
        staged: Staged,
        mut new: NewImage,
        tags: &[Reference],
    ) -> Result<ImageRecord, StoreError> {
        if staged.is_placed() {
            return self.add_image(new, tags);
        }
        // Before the store lock: other kiln processes need not wait on
        // the disk.
        durable::sync_filesystem(&self.dir(TMP_DIR))
            .map_err(io_context("flushing the store's filesystem"))?;
        crash_point("staged-before-place");
        let mut session = self.write_session()?;
        let mut renamed = false;
        for blob in &staged.blobs {
            if let Some((path, _)) = &blob.tmp {
                renamed |= self.rename_blob(path, &blob.blob.digest)?;
            }
        }
        if renamed {
            durable::sync_dir(&self.dir(BLOBS_DIR)).map_err(io_context("flushing blobs/"))?;
        }
        let mut fresh: Vec<SnapshotInfo> = Vec::new();
        for snapshot in staged.snapshots {
            let staged_id = snapshot.info.id.clone();
            // An image may hold one layer twice (empty layers often): both
            // were staged, and the second is not recorded yet to be found.
            let twin = fresh
                .iter()
                .find(|f| f.diff_id.is_some() && f.diff_id == snapshot.info.diff_id)
                .map(|f| f.id.clone());
            let id = match twin {
                Some(id) => id,
                None => match self.rename_snapshot(&mut session, snapshot)? {
                    Placed::New(info) => {
                        fresh.push(info);
                        continue;
                    }
                    Placed::Existing(id) => id,
                },
            };
            for layer in new.layers.iter_mut().filter(|l| l.snapshot == staged_id) {
                layer.snapshot = id.clone();
            }
        }
        if !fresh.is_empty() {
            durable::sync_dir(&self.dir(SNAPSHOTS_DIR))
                .map_err(io_context("flushing snapshots/"))?;
            crash_point("snapshot-after-rename");
            let mut tx = session.write()?;
            // Made durable by the image's commit just after: a durable
            // commit of its own would flush meta.db once more.
            tx.set_durability(redb::Durability::None)
                .map_err(MetaError::from)?;
            for info in &fresh {
                insert_snapshot(&tx, info)?;
            }
            tx.commit().map_err(MetaError::from)?;
        }
        add_image_in(&mut session, new, tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_store::LayerRecord;
    use crate::snapshot::NewSnapshot;
    use crate::Digest;

    fn stage_layer(store: &Store, staged: &mut Staged, content: &[u8]) -> LayerRecord {
        let dir = store.new_snapshot_staging().unwrap();
        std::fs::write(dir.path().join("f"), content).unwrap();
        let blob = staged.add_blob(store.stage_blob_bytes(content, None).unwrap());
        let new = NewSnapshot {
            diff_id: Some(blob.digest),
            tar_size: None,
            parent: None,
            created_by: "test".into(),
        };
        let snapshot = staged.add_snapshot(store.stage_snapshot(dir, new).unwrap());
        LayerRecord {
            blob,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            diff_id: blob.digest,
            snapshot,
        }
    }

    fn image(store: &Store, staged: &mut Staged, layers: Vec<LayerRecord>) -> NewImage {
        NewImage {
            manifest: staged.add_blob(store.stage_blob_bytes(b"{\"m\":1}", None).unwrap()),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            config: staged.add_blob(store.stage_blob_bytes(b"{\"c\":1}", None).unwrap()),
            layers,
            created: None,
            index: None,
        }
    }

    #[test]
    fn nothing_is_visible_before_and_everything_after() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let mut staged = Staged::default();
        let layer = stage_layer(&store, &mut staged, b"layer one");
        let new = image(&store, &mut staged, vec![layer.clone()]);
        assert!(!store.blob_path(&layer.blob.digest).exists());
        assert!(!store.blob_path(&new.config.digest).exists());
        assert!(!store.snapshot_path(&layer.snapshot).exists());
        let tag = Reference::parse_normalized("app:1").unwrap();
        let image = store.add_staged_image(staged, new, &[tag]).unwrap();
        assert_eq!(image.layers[0].snapshot, layer.snapshot);
        assert_eq!(
            std::fs::read(store.snapshot_path(&layer.snapshot).join("f")).unwrap(),
            b"layer one"
        );
        assert_eq!(store.read_blob(&image.config.digest).unwrap(), b"{\"c\":1}");
        let info = store.snapshot(&layer.snapshot).unwrap().unwrap();
        assert_eq!(info.diff_id, Some(layer.diff_id));
        let report = store.check(false, &crate::NoHolds).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let tmp = std::fs::read_dir(root.path().join("tmp")).unwrap().count();
        assert_eq!(tmp, 0, "staging left behind");
    }

    #[test]
    fn a_layer_the_store_got_meanwhile_is_named_and_the_copy_dropped() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let mut first = Staged::default();
        let mut second = Staged::default();
        let a = stage_layer(&store, &mut first, b"same layer");
        let b = stage_layer(&store, &mut second, b"same layer");
        let new_a = image(&store, &mut first, vec![a.clone()]);
        let new_b = image(&store, &mut second, vec![b]);
        store.add_staged_image(first, new_a, &[]).unwrap();
        let image = store.add_staged_image(second, new_b, &[]).unwrap();
        assert_eq!(image.layers[0].snapshot, a.snapshot);
        let snapshots = std::fs::read_dir(root.path().join("snapshots")).unwrap();
        assert_eq!(snapshots.count(), 1);
        assert_eq!(
            std::fs::read_dir(root.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_layer_twice_in_one_image_is_one_snapshot() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let mut staged = Staged::default();
        let a = stage_layer(&store, &mut staged, b"empty");
        let b = stage_layer(&store, &mut staged, b"empty");
        let new = image(&store, &mut staged, vec![a, b]);
        let image = store.add_staged_image(staged, new, &[]).unwrap();
        assert_eq!(image.layers[0].snapshot, image.layers[1].snapshot);
        let snapshots = std::fs::read_dir(root.path().join("snapshots")).unwrap();
        assert_eq!(snapshots.count(), 1);
        let report = store.check(false, &crate::NoHolds).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn dropped_staging_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let mut staged = Staged::default();
        stage_layer(&store, &mut staged, b"never placed");
        drop(staged);
        assert_eq!(
            std::fs::read_dir(root.path().join("tmp")).unwrap().count(),
            0
        );
        let digest = Digest::of_bytes(b"never placed");
        assert!(!store.blob_path(&digest).exists());
    }
}
