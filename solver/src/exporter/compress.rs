//! Layers in the compression a registry or a cache export needs. The store
//! keeps built layers uncompressed (their digest is the diff_id); the
//! compressed blob is made lazily, the first time a push or cache export
//! needs it, and remembered per (diff_id, compression) so the next one
//! reuses the same bytes and digest (DESIGN.md, "Layers").

use std::io::{self, BufReader};

use kiln_cache::compression::{self, Compression};
use kiln_cache::image::media_type::{self, Flavor};
use kiln_cache::{BlobRef, LayerRecord, Store};

use super::encoder::{LayerCompression, LayerEncoder};
use super::error::ExportError;
use crate::BuildError;

/// `layer` as a blob compressed with `want`, and its OCI media type.
pub fn compressed(
    store: &Store,
    layer: &LayerRecord,
    want: Compression,
) -> Result<(BlobRef, String), BuildError> {
    let media = Flavor::Oci.layer(want).to_string();
    if media_type::layer_compression(&layer.media_type) == Some(want) {
        return Ok((layer.blob, media));
    }
    if let Some(found) = store.compressed_variant(&layer.diff_id, want.as_str())? {
        return Ok((found, media));
    }
    let failed = |source| ExportError::Compress {
        diff_id: layer.diff_id,
        source,
    };
    let source = BufReader::with_capacity(1 << 20, store.layer_source(layer)?);
    let (_, mut plain) = compression::decoder(source).map_err(ExportError::Decompress)?;
    let writer = store.blob_writer()?;
    // The same encoder as archive exports, so a layer has one digest per
    // compression wherever it goes.
    let how = LayerCompression {
        compression: want,
        level: None,
    };
    let mut enc = LayerEncoder::new(writer, how).map_err(failed)?;
    io::copy(&mut plain, &mut enc).map_err(failed)?;
    let writer = enc.finish().map_err(failed)?;
    let blob = writer.commit(None)?;
    store.record_compressed_variant(&layer.diff_id, want.as_str(), &blob)?;
    Ok((blob, media))
}
