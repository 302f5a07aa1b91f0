//! A layer blob in the compression an export needs. Made once, lazily, and
//! remembered in the store per (diff_id, compression), so the next export
//! reuses the same bytes and the same digest.

use std::io::{self, BufReader};

use crate::blobs::BlobRef;
use crate::compression::{self, Compression, Encoder};
use crate::image::media_type;
use crate::image_store::LayerRecord;
use crate::store::Store;

use super::ArchiveError;

pub(crate) fn layer_in(
    store: &Store,
    layer: &LayerRecord,
    want: Compression,
) -> Result<BlobRef, ArchiveError> {
    if media_type::layer_compression(&layer.media_type) == Some(want) {
        return Ok(layer.blob);
    }
    if let Some(found) = store.stored_variant(&layer.diff_id, want)? {
        return Ok(found);
    }
    // A layer kiln made and never wrote is compressed from its snapshot.
    let source = BufReader::with_capacity(1 << 20, store.layer_source(layer)?);
    let (_, mut plain) = compression::decoder(source)?;
    let writer = store.blob_writer()?;
    let mut enc = Encoder::new(writer, want, compression::default_threads())
        .map_err(super::io_err("compressing a layer"))?;
    io::copy(&mut plain, &mut enc).map_err(super::io_err(format!(
        "compressing layer {}",
        layer.diff_id
    )))?;
    let writer = enc.finish().map_err(super::io_err("compressing a layer"))?;
    let expected = (want == Compression::None).then_some(layer.diff_id);
    let blob = writer.commit(expected.as_ref())?;
    if want != Compression::None {
        store.record_compressed_variant(&layer.diff_id, want.as_str(), &blob)?;
    }
    Ok(blob)
}
