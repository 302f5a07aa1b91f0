//! Compressed variants of a layer: (diff_id, compression) → blob. An export
//! compresses a layer once; the next export of the same layer in the same
//! compression reuses the blob, so its digest is stable too.

use redb::ReadableTable;

use crate::blobs::BlobRef;
use crate::compression::Compression;
use crate::digest::Digest;
use crate::lock::Leased;
use crate::meta::{self, MetaError, VARIANTS};
use crate::store::{Store, StoreError};

fn key(diff_id: &Digest, compression: &str) -> String {
    format!("{diff_id} {compression}")
}

impl Store {
    /// The layer `diff_id` as a blob in `want`, when the store has one:
    /// its uncompressed tar (named by the diff_id) or a compressed variant
    /// made before. Leased when found.
    pub fn stored_variant(
        &self,
        diff_id: &Digest,
        want: Compression,
    ) -> Result<Option<BlobRef>, StoreError> {
        match want {
            Compression::None => self.stored_blob(diff_id),
            _ => self.compressed_variant(diff_id, want.as_str()),
        }
    }

    /// The blob holding the layer `diff_id` compressed as `compression`
    /// (`gzip`, `zstd`, `none`), leased to this process when found.
    pub fn compressed_variant(
        &self,
        diff_id: &Digest,
        compression: &str,
    ) -> Result<Option<BlobRef>, StoreError> {
        let mut session = self.session()?;
        let tx = session.read()?;
        let table = tx.open_table(VARIANTS).map_err(MetaError::from)?;
        let found: Option<BlobRef> =
            meta::get_json(&table, "variants", &key(diff_id, compression))?;
        match found {
            Some(b) if self.blob_path(&b.digest).is_file() => {
                self.lease()?.add(&Leased::Blob(b.digest))?;
                Ok(Some(b))
            }
            _ => Ok(None),
        }
    }

    /// Remembers that `blob` is `diff_id` compressed as `compression`. The
    /// blob must be in the store; the variant lives as long as a snapshot
    /// of that diff_id does.
    pub fn record_compressed_variant(
        &self,
        diff_id: &Digest,
        compression: &str,
        blob: &BlobRef,
    ) -> Result<(), StoreError> {
        let mut session = self.write_session()?;
        if !self.blob_path(&blob.digest).is_file() {
            return Err(StoreError::BlobNotFound(blob.digest));
        }
        let tx = session.write()?;
        {
            let mut table = tx.open_table(VARIANTS).map_err(MetaError::from)?;
            let k = key(diff_id, compression);
            if table.get(k.as_str()).map_err(MetaError::from)?.is_none() {
                table
                    .insert(k.as_str(), meta::encode(blob)?.as_slice())
                    .map_err(MetaError::from)?;
            }
        }
        tx.commit().map_err(MetaError::from)?;
        Ok(())
    }
}
