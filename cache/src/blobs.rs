//! `blobs/sha256/<hex>`: immutable OCI content. A blob is written to `tmp/`,
//! hashed while written, flushed, and renamed to its digest only if the
//! digest is what the caller expected: a file in `blobs/` always hashes to
//! its name.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::crashpoint::crash_point;
use crate::digest::Digest;
use crate::durable;
use crate::lock::Leased;
use crate::store::{io_context, Store, StoreError, BLOBS_DIR};

/// A blob in the store: its digest and size (the two halves of an OCI
/// descriptor that the store knows; the media type is the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
}

/// A blob being written. Bytes go to `tmp/` and through sha256; nothing is
/// visible until [`BlobWriter::commit`]. Dropping it discards the bytes.
pub struct BlobWriter<'s> {
    store: &'s Store,
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// `None` for [`Store::blob_writer_hashed_by_caller`].
    hasher: Option<Sha256>,
    size: u64,
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        let n = out.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter<'_> {
    /// Flushes the bytes, checks them against `expected` when given, and
    /// makes the blob visible under its digest.
    pub fn commit(self, expected: Option<&Digest>) -> Result<BlobRef, StoreError> {
        let store = self.store;
        let staged = self.stage(expected)?;
        let blob = staged.blob;
        // A rebuild writes the same config and manifest again: the blob is
        // there already, so the copy is dropped unflushed (a cached build
        // then syncs nothing).
        let Some((path, file)) = &staged.tmp else {
            return Ok(blob);
        };
        file.sync_all().map_err(io_context("flushing blob"))?;
        crash_point("blob-before-rename");
        store.place_blob(path, &blob.digest)?;
        Ok(blob)
    }

    /// Checks the bytes against `expected` when given and keeps them in
    /// `tmp/`, unflushed, for [`crate::staged`] to flush and place with
    /// the rest of an operation's content. A blob the store has already is
    /// only leased.
    pub(crate) fn stage(mut self, expected: Option<&Digest>) -> Result<StagedBlob, StoreError> {
        let out = self
            .out
            .take()
            .ok_or_else(|| io_context("writing blob")(io::Error::other("already finished")))?;
        let file = out
            .into_inner()
            .map_err(|e| io_context("writing blob")(e.into_error()))?;
        let actual = match (self.hasher.take(), expected) {
            (Some(hasher), _) => Digest::from_sha256_bytes(hasher.finalize().into()),
            (None, Some(expected)) => *expected,
            (None, None) => {
                let e = io::Error::other(
                    "a blob hashed by its writer's caller came without its digest",
                );
                return Err(io_context("writing blob")(e));
            }
        };
        if let Some(expected) = expected {
            if *expected != actual {
                return Err(StoreError::DigestMismatch {
                    expected: *expected,
                    actual,
                });
            }
        }
        let blob = BlobRef {
            digest: actual,
            size: self.size,
        };
        if self.store.has_blob(&actual)? {
            return Ok(StagedBlob { blob, tmp: None });
        }
        durable::start_writeback(&file);
        // The staged blob owns the temporary file from here.
        let path = std::mem::take(&mut self.path);
        Ok(StagedBlob {
            blob,
            tmp: Some((path, file)),
        })
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        // After a successful commit the temporary name is gone already.
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A verified blob, still under `tmp/` unless the store had it already.
/// Dropped without being placed, it is removed.
#[derive(Debug)]
pub(crate) struct StagedBlob {
    pub blob: BlobRef,
    pub tmp: Option<(PathBuf, File)>,
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        // Once placed, the temporary name is gone and this fails quietly.
        if let Some((path, _)) = &self.tmp {
            let _ = fs::remove_file(path);
        }
    }
}

impl Store {
    /// A writer for a new blob (a layer being compressed, a manifest).
    pub fn blob_writer(&self) -> Result<BlobWriter<'_>, StoreError> {
        self.new_blob_writer(Some(Sha256::new()))
    }

    /// A writer for a blob whose bytes the caller hashes on their way in
    /// (`layer::diff` does, for the layer's digests): the store takes the
    /// digest given to [`BlobWriter::commit`] as the blob's, and a layer
    /// is hashed once, not twice. Only for bytes the caller made.
    pub fn blob_writer_hashed_by_caller(&self) -> Result<BlobWriter<'_>, StoreError> {
        self.new_blob_writer(None)
    }

    fn new_blob_writer(&self, hasher: Option<Sha256>) -> Result<BlobWriter<'_>, StoreError> {
        let path = self.tmp_path("blob")?;
        let file = File::create_new(&path).map_err(io_context("creating a temporary blob"))?;
        Ok(BlobWriter {
            store: self,
            path,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            hasher,
            size: 0,
        })
    }

    /// Streams `reader` into a blob, verifying it against `expected` when
    /// given (a layer from an archive or a registry names its digest).
    pub fn put_blob_from_reader<R: Read>(
        &self,
        mut reader: R,
        expected: Option<&Digest>,
    ) -> Result<BlobRef, StoreError> {
        let mut w = self.blob_writer()?;
        io::copy(&mut reader, &mut w).map_err(io_context("writing blob"))?;
        w.commit(expected)
    }

    /// `bytes` (a config, a manifest) as a staged blob: verified, not
    /// flushed, not yet visible (see [`BlobWriter::stage`]).
    pub(crate) fn stage_blob_bytes(
        &self,
        bytes: &[u8],
        expected: Option<&Digest>,
    ) -> Result<StagedBlob, StoreError> {
        let mut w = self.blob_writer()?;
        w.write_all(bytes).map_err(io_context("writing blob"))?;
        w.stage(expected)
    }

    /// Stores `bytes` (a config, a manifest) as a blob; one the store has
    /// already is only leased (see [`BlobWriter::commit`]).
    pub fn put_blob_bytes(&self, bytes: &[u8]) -> Result<BlobRef, StoreError> {
        self.put_blob_from_reader(bytes, None)
    }

    /// Where the blob lives (whether or not it exists). Safe for any
    /// `Digest`: its hex cannot contain a path separator.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir(BLOBS_DIR).join(digest.hex())
    }

    /// Whether the blob is present. When it is, it is leased to this
    /// process: a concurrent prune will not remove it before this `Store`
    /// is dropped, so a caller may skip writing it and reference it later.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError> {
        let _session = self.session()?;
        let present = self.blob_path(digest).is_file();
        if present {
            self.lease()?.add(&Leased::Blob(*digest))?;
        }
        Ok(present)
    }

    /// The blob, when present: [`Store::has_blob`] with its size.
    pub fn stored_blob(&self, digest: &Digest) -> Result<Option<BlobRef>, StoreError> {
        if !self.has_blob(digest)? {
            return Ok(None);
        }
        let size = self.blob_size(digest)?;
        Ok(Some(BlobRef {
            digest: *digest,
            size,
        }))
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        File::open(self.blob_path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(*digest),
            _ => io_context(format!("opening blob {digest}"))(e),
        })
    }

    /// Reads a whole blob (configs, manifests: small ones) and checks its
    /// digest, so a bit flip on disk is an error, not a wrong image.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .map_err(io_context(format!("reading blob {digest}")))?;
        let actual = Digest::of_bytes(&bytes);
        if actual != *digest {
            return Err(StoreError::DigestMismatch {
                expected: *digest,
                actual,
            });
        }
        Ok(bytes)
    }

    /// The size of a stored blob.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64, StoreError> {
        Ok(self
            .open_blob(digest)?
            .metadata()
            .map_err(io_context(format!("reading blob {digest}")))?
            .len())
    }

    /// Renames a flushed temporary file to `blobs/sha256/<hex>`, under the
    /// store lock so a GC running now either sees the lease or has finished.
    fn place_blob(&self, tmp: &std::path::Path, digest: &Digest) -> Result<(), StoreError> {
        let _session = self.session()?;
        if self.rename_blob(tmp, digest)? {
            durable::sync_dir(&self.dir(BLOBS_DIR)).map_err(io_context("flushing blobs/"))?;
        }
        Ok(())
    }

    /// The rename of [`Store::place_blob`], without flushing `blobs/`;
    /// whether it renamed. The caller holds the store lock, and the file's
    /// bytes are on disk.
    pub(crate) fn rename_blob(
        &self,
        tmp: &std::path::Path,
        digest: &Digest,
    ) -> Result<bool, StoreError> {
        self.lease()?.add(&Leased::Blob(*digest))?;
        let dest = self.blob_path(digest);
        if dest.is_file() {
            // Same digest, same bytes: keep the one already there.
            return Ok(false);
        }
        fs::rename(tmp, &dest).map_err(io_context(format!("placing blob {digest}")))?;
        crash_point("blob-after-rename");
        Ok(true)
    }
}

/// sha256 of a file's bytes, for `check`.
pub(crate) fn hash_file(path: &std::path::Path) -> io::Result<Digest> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Digest::from_sha256_bytes(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[test]
    fn a_blob_stored_again_keeps_the_first_copy_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = store.put_blob_bytes(b"{\"config\":1}").unwrap();
        let inode = |s: &Store| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(s.blob_path(&first.digest)).unwrap().ino()
        };
        let before = inode(&store);
        let again = store.put_blob_bytes(b"{\"config\":1}").unwrap();
        let mut w = store.blob_writer().unwrap();
        std::io::Write::write_all(&mut w, b"{\"config\":1}").unwrap();
        let streamed = w.commit(Some(&first.digest)).unwrap();
        assert_eq!((again.digest, again.size), (first.digest, first.size));
        assert_eq!((streamed.digest, streamed.size), (first.digest, first.size));
        assert_eq!(inode(&store), before);
        let tmp: Vec<_> = std::fs::read_dir(dir.path().join("tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "{tmp:?}");
    }

    #[test]
    fn a_blob_hashed_by_the_caller_is_stored_under_the_callers_digest_and_needs_it() {
        use crate::digesting::DigestingWriter;
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = DigestingWriter::new(store.blob_writer_hashed_by_caller().unwrap());
        w.write_all(b"layer bytes").unwrap();
        let (blob_writer, digest, len) = w.finish();
        let blob = blob_writer.commit(Some(&digest)).unwrap();
        assert_eq!((blob.digest, blob.size), (digest, len));
        // The digest is the bytes' own: the same bytes hashed by the store.
        assert_eq!(store.put_blob_bytes(b"layer bytes").unwrap().digest, digest);
        assert_eq!(
            std::fs::read(store.blob_path(&digest)).unwrap(),
            b"layer bytes"
        );

        let mut w = store.blob_writer_hashed_by_caller().unwrap();
        w.write_all(b"other bytes").unwrap();
        let err = w.commit(None).unwrap_err();
        assert!(err.to_string().contains("without its digest"), "{err}");
        let tmp: Vec<_> = std::fs::read_dir(dir.path().join("tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "{tmp:?}");
    }
}
