//! A snapshot's layer: named by hashing, written when something reads it.
//!
//! A step's image needs only its layers' diff_ids and sizes. A build hashes
//! the tar of each new layer as it commits and keeps the snapshot; the tar
//! itself is written (or streamed) from the snapshot when an export, a
//! push, a save or a cache export reads it, and a written blob is kept
//! from then on. A builder stage's steps are not even hashed until an
//! image holds them. The tar is deterministic in the directory's content,
//! so writing it late gives the bytes writing it early would have; a
//! snapshot that no longer gives its diff_id is refused (`LayerChanged`).

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

use redb::ReadableTable;

use crate::blobs::BlobRef;
use crate::digest::Digest;
use crate::image_store::LayerRecord;
use crate::layer::diff::tar_hashed_aside;
use crate::layer::{diff, DiffError, DiffOptions, LayerDigests};
use crate::meta::{self, DIFF_IDS, SNAPSHOTS};
use crate::pipe::{self, Chunk, PipeReader};
use crate::snapshot::{snapshot_in, SnapshotId, SnapshotInfo};
use crate::store::{Store, StoreError};

impl Store {
    /// Snapshot `id`'s layer as an image names it: its diff_id and the
    /// size of its tar. A snapshot that does not know them yet (a builder
    /// stage's step) is hashed now and remembers them; no blob is written.
    pub fn layer_ref(&self, id: &SnapshotId) -> Result<BlobRef, StoreError> {
        let info = self.snapshot_info(id)?;
        if let Some(known) = self.known_layer(&info)? {
            return Ok(known);
        }
        let dir = self.snapshot_path(id);
        let digests = tar_hashed_aside(&dir, Vec::new(), &DiffOptions::default(), None)
            .map_err(|source| layer_tar_failed(id, source))?;
        let made = digests.blob();
        same_layer(id, info.diff_id, made.digest)?;
        self.record_layer(id, &made)?;
        Ok(made)
    }

    /// Snapshot `id`'s layer when it is named already (see
    /// [`Store::layer_ref`]), without hashing anything.
    pub fn named_layer(&self, id: &SnapshotId) -> Result<Option<BlobRef>, StoreError> {
        self.known_layer(&self.snapshot_info(id)?)
    }

    /// The uncompressed layer blob of snapshot `id` (its digest is the
    /// layer's diff_id), written from the snapshot's directory now when
    /// the store has none.
    pub fn layer_blob(&self, id: &SnapshotId) -> Result<BlobRef, StoreError> {
        let info = self.snapshot_info(id)?;
        if let Some(blob) = self.blob_of(&info)? {
            return Ok(blob);
        }
        let written = self.write_layer_blob(id)?;
        crate::crashpoint::crash_point("layer-blob-before-record");
        same_layer(id, info.diff_id, written.digest)?;
        if info.hashed_layer().is_none() {
            self.record_layer(id, &written)?;
        }
        Ok(written)
    }

    /// The file of `layer`'s blob; one the store keeps only as its
    /// snapshot is written first (and kept).
    pub fn open_layer(&self, layer: &LayerRecord) -> Result<File, StoreError> {
        if !self.made_here(layer)? {
            return self.open_blob(&layer.blob.digest);
        }
        let blob = self.layer_blob(&layer.snapshot)?;
        self.open_blob(&blob.digest)
    }

    /// The bytes of `layer`'s blob as a stream: its file, or for a layer
    /// the store keeps only as its snapshot, the tar made from the
    /// directory as it is read, nothing written. The stream fails at its
    /// end if the tar is not the diff_id's.
    pub fn layer_source(&self, layer: &LayerRecord) -> Result<LayerSource, StoreError> {
        if !self.made_here(layer)? {
            return Ok(self.open_blob(&layer.blob.digest)?.into());
        }
        let dir = self.snapshot_path(&layer.snapshot);
        let (tx, reader) = pipe::channel();
        let maker = std::thread::Builder::new()
            .name("layer-tar".into())
            .spawn(move || make_tar(dir, tx))
            .map_err(|e| StoreError::Io {
                context: "starting a layer's tar writer".into(),
                source: e,
            })?;
        Ok(LayerSource(Source::Made(Made {
            reader,
            maker: Some(maker),
            snapshot: layer.snapshot.clone(),
            expected: layer.blob,
            read: 0,
        })))
    }

    /// The bytes of `blob`, which is `layer`'s own or a variant of it in
    /// another compression: the layer's own is streamed as
    /// [`Store::layer_source`] does, a variant read from its file.
    pub fn variant_source(
        &self,
        layer: &LayerRecord,
        blob: &BlobRef,
    ) -> Result<LayerSource, StoreError> {
        match *blob == layer.blob {
            true => self.layer_source(layer),
            false => Ok(self.open_blob(&blob.digest)?.into()),
        }
    }

    /// Whether `layer`'s blob is not on disk and is made from its
    /// snapshot ([`LayerRecord::is_made_from`]); otherwise its blob file
    /// is read (and a missing one is `BlobNotFound`).
    fn made_here(&self, layer: &LayerRecord) -> Result<bool, StoreError> {
        if self.has_blob(&layer.blob.digest)? {
            return Ok(false);
        }
        let info = self.snapshot(&layer.snapshot)?;
        Ok(info.is_some_and(|i| layer.is_made_from(&i)))
    }

    fn snapshot_info(&self, id: &SnapshotId) -> Result<SnapshotInfo, StoreError> {
        self.snapshot(id)?
            .ok_or_else(|| StoreError::SnapshotNotFound(id.to_string()))
    }

    /// The diff_id and tar size a snapshot already has, from its record
    /// or from its written blob.
    fn known_layer(&self, info: &SnapshotInfo) -> Result<Option<BlobRef>, StoreError> {
        match info.hashed_layer() {
            Some(layer) => Ok(Some(layer)),
            None => self.blob_of(info),
        }
    }

    /// The snapshot's uncompressed layer blob, when it names one and the
    /// file is here.
    fn blob_of(&self, info: &SnapshotInfo) -> Result<Option<BlobRef>, StoreError> {
        match info.diff_id {
            Some(diff_id) => self.stored_blob(&diff_id),
            None => Ok(None),
        }
    }

    fn write_layer_blob(&self, id: &SnapshotId) -> Result<BlobRef, StoreError> {
        let dir = self.snapshot_path(id);
        // The tar hashes its own bytes (its diff_id); the store does not
        // hash them again.
        let writer = self.blob_writer_hashed_by_caller()?;
        let (writer, digests) = diff(&dir, writer, &DiffOptions::default())
            .map_err(|source| layer_tar_failed(id, source))?;
        writer.commit(Some(&digests.digest))
    }

    /// Notes the diff_id and tar size a snapshot's tar turned out to have,
    /// and that the snapshot holds that layer (unless another one already
    /// does).
    fn record_layer(&self, id: &SnapshotId, layer: &BlobRef) -> Result<(), StoreError> {
        let mut session = self.write_session()?;
        let Some(mut info) = snapshot_in(&mut session, id)? else {
            return Err(StoreError::SnapshotNotFound(id.to_string()));
        };
        info.diff_id = Some(layer.digest);
        info.tar_size = Some(layer.size);
        let tx = session.write()?;
        {
            let mut snapshots = tx.open_table(SNAPSHOTS).map_err(meta::MetaError::from)?;
            snapshots
                .insert(id.as_str(), meta::encode(&info)?.as_slice())
                .map_err(meta::MetaError::from)?;
            let mut diff_ids = tx.open_table(DIFF_IDS).map_err(meta::MetaError::from)?;
            let key = layer.digest.to_string();
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

/// A snapshot that names its diff_id must give it again: one that does
/// not was changed on disk (`cache check` says so).
fn same_layer(id: &SnapshotId, named: Option<Digest>, made: Digest) -> Result<(), StoreError> {
    match named {
        Some(expected) if expected != made => Err(changed(id, expected, made)),
        _ => Ok(()),
    }
}

fn changed(id: &SnapshotId, expected: Digest, actual: Digest) -> StoreError {
    StoreError::LayerChanged {
        snapshot: id.to_string(),
        expected,
        actual,
    }
}

fn layer_tar_failed(id: &SnapshotId, source: DiffError) -> StoreError {
    StoreError::LayerTar {
        snapshot: id.to_string(),
        source,
    }
}

fn make_tar(dir: PathBuf, to: SyncSender<Chunk>) -> Result<LayerDigests, DiffError> {
    tar_hashed_aside(&dir, vec![to], &DiffOptions::default(), None)
}

/// A layer blob's bytes, from its file or made as they are read.
pub struct LayerSource(Source);

impl From<File> for LayerSource {
    fn from(f: File) -> LayerSource {
        LayerSource(Source::Blob(f))
    }
}

enum Source {
    Blob(File),
    Made(Made),
}

/// A layer tar being made from its snapshot on a thread of its own.
struct Made {
    reader: PipeReader,
    maker: Option<JoinHandle<Result<LayerDigests, DiffError>>>,
    snapshot: SnapshotId,
    expected: BlobRef,
    read: u64,
}

impl Made {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(out)?;
        self.read += n as u64;
        // Readers that know the size (a tar entry) stop at it and never
        // see the end: the tar is judged there too.
        if (n == 0 && !out.is_empty()) || self.read >= self.expected.size {
            self.verdict()?;
        }
        Ok(n)
    }

    /// At the end of the stream: whether the tar was whole and the layer's.
    fn verdict(&mut self) -> io::Result<()> {
        let Some(maker) = self.maker.take() else {
            return Ok(());
        };
        // The rest, if the tar is longer than named, so the writer ends.
        io::copy(&mut self.reader, &mut io::sink())?;
        let digests = maker
            .join()
            .map_err(|_| io::Error::other("the layer's tar writer panicked"))?
            .map_err(|e| io::Error::other(layer_tar_failed(&self.snapshot, e)))?;
        let made = digests.blob();
        if made != self.expected {
            let e = changed(&self.snapshot, self.expected.digest, made.digest);
            return Err(io::Error::other(e));
        }
        Ok(())
    }
}

impl Read for LayerSource {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Source::Blob(f) => f.read(out),
            Source::Made(m) => m.read(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Read;

    use crate::layer::{diff, DiffOptions};
    use crate::snapshot::NewSnapshot;
    use crate::{LayerRecord, Store, StoreError};

    fn deferred(store: &Store, content: &str) -> crate::SnapshotId {
        let staging = store.new_snapshot_staging().unwrap();
        fs::create_dir(staging.path().join("etc")).unwrap();
        fs::write(staging.path().join("etc/motd"), content).unwrap();
        let new = NewSnapshot {
            diff_id: None,
            tar_size: None,
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

    #[test]
    fn a_layer_is_named_by_hashing_and_streamed_from_its_snapshot_without_a_blob() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        // More than the pipe holds, so the tar writer waits on its readers.
        let id = deferred(&store, &"hello ".repeat(1 << 20));
        let (tar, expected) = diff(
            &store.snapshot_path(&id),
            Vec::new(),
            &DiffOptions::default(),
        )
        .unwrap();
        let named = store.layer_ref(&id).unwrap();
        assert_eq!(
            (named.digest, named.size),
            (expected.diff_id, expected.size)
        );
        assert!(!store.blob_path(&named.digest).exists(), "no blob written");
        let info = store.snapshot(&id).unwrap().unwrap();
        assert_eq!(
            (info.diff_id, info.tar_size),
            (Some(named.digest), Some(named.size))
        );

        let layer = LayerRecord::uncompressed(named, id.clone());
        let mut streamed = Vec::new();
        store
            .layer_source(&layer)
            .unwrap()
            .read_to_end(&mut streamed)
            .unwrap();
        assert_eq!(streamed, tar);
        assert!(
            !store.blob_path(&named.digest).exists(),
            "streaming writes none"
        );

        // A reader that needs a file gets the blob written, once.
        let mut file = Vec::new();
        store
            .open_layer(&layer)
            .unwrap()
            .read_to_end(&mut file)
            .unwrap();
        assert_eq!(file, tar);
        let report = store.check(false, &crate::NoHolds).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn a_streamed_layer_whose_snapshot_changed_fails_where_the_reader_stops() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = deferred(&store, "hello");
        let layer = LayerRecord::uncompressed(store.layer_ref(&id).unwrap(), id.clone());
        // Same length, other bytes: only the digest tells.
        fs::write(store.snapshot_path(&id).join("etc/motd"), "jello").unwrap();
        // A tar entry reads exactly the size it was told, never to the end.
        let mut exact = store.layer_source(&layer).unwrap().take(layer.blob.size);
        let err = exact.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("changed on disk"), "{err}");
        assert!(!store.blob_path(&layer.blob.digest).exists());
    }

    #[test]
    fn cache_check_finds_a_made_layer_whose_tar_changed_where_its_tree_did_not() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = deferred(&store, "hello");
        store.layer_ref(&id).unwrap();
        let clean = store.check(false, &crate::NoHolds).unwrap();
        assert!(clean.problems.is_empty(), "{:?}", clean.problems);
        // An mtime is in the tar, not in the tree's measure.
        let motd = store.snapshot_path(&id).join("etc/motd");
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
        fs::File::options()
            .write(true)
            .open(&motd)
            .unwrap()
            .set_modified(when)
            .unwrap();
        let report = store.check(false, &crate::NoHolds).unwrap();
        let found: Vec<_> = report.problems.iter().map(|p| &p.description).collect();
        assert!(
            found.iter().any(|d| d.contains("no longer its layer")),
            "{found:?}"
        );
    }

    #[test]
    fn a_pulled_layer_without_its_blob_is_missing_not_made_from_its_snapshot() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        // A registry's tar names the snapshot; kiln's own tar of the same
        // files need not be those bytes.
        let pulled = crate::BlobRef {
            digest: crate::Digest::of_bytes(b"a registry's uncompressed tar"),
            size: 1536,
        };
        let staging = store.new_snapshot_staging().unwrap();
        fs::write(staging.path().join("motd"), "hello").unwrap();
        let new = NewSnapshot {
            diff_id: Some(pulled.digest),
            tar_size: None,
            parent: None,
            created_by: "pull layer".into(),
        };
        let id = store.commit_snapshot(staging, new).unwrap();
        let layer = LayerRecord::uncompressed(pulled, id.clone());
        assert!(!layer.is_made_from(&store.snapshot(&id).unwrap().unwrap()));
        match store.layer_source(&layer) {
            Err(StoreError::BlobNotFound(d)) => assert_eq!(d, pulled.digest),
            Err(e) => panic!("expected BlobNotFound, got {e}"),
            Ok(_) => panic!("expected BlobNotFound, got a stream"),
        }
    }
}
