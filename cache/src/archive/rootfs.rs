//! `kiln import`: a rootfs tar (plain, gzip, zstd, xz or bzip2) becomes a
//! one-layer image, as `docker import` makes it. The decompressed stream is
//! unpacked and stored as the layer blob in one pass; its digest is the
//! diff_id. The layer is kept exactly as given (not re-packed), so the same
//! tar imported twice gives the same layer.

use std::io::{self, BufReader, Read, Write};
use std::time::SystemTime;

use oci_spec::image::Config;
use serde_json::Map;

use crate::blobs::BlobWriter;
use crate::compression;
use crate::image::config::import_config;
use crate::image::manifest::descriptor;
use crate::image::{ConfigBlob, Flavor, ManifestBlob};
use crate::image_store::{ImageRecord, LayerRecord, NewImage};
use crate::layer;
use crate::reference::Reference;
use crate::snapshot::NewSnapshot;
use crate::store::Store;

use super::ArchiveError;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Settings from `--change` (CMD, ENV, …).
    pub changes: Option<Config>,
    /// `--message`: the history comment; default "Imported from SOURCE".
    pub message: Option<String>,
    /// What was imported (a file name, or `-`), for the history comment.
    pub source: String,
    pub tags: Vec<Reference>,
}

/// Copies what it reads into the blob being written.
struct Tee<'a, 's, R> {
    inner: R,
    blob: &'a mut BlobWriter<'s>,
}

impl<R: Read> Read for Tee<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.blob.write_all(&buf[..n])?;
        Ok(n)
    }
}

pub fn import<R: Read>(
    store: &Store,
    input: R,
    opts: &ImportOptions,
) -> Result<ImageRecord, ArchiveError> {
    let (_, plain) = compression::decoder(BufReader::with_capacity(1 << 20, input))?;
    let mut blob = store.blob_writer()?;
    let staging = store.new_snapshot_staging()?;
    let applied = layer::apply(
        Tee {
            inner: plain,
            blob: &mut blob,
        },
        staging.path(),
    )?;
    let diff_id = applied.diff_id;
    let layer_blob = blob.commit(Some(&diff_id))?;
    let snapshot = store.commit_snapshot(
        staging,
        NewSnapshot {
            diff_id: Some(diff_id),
            tar_size: None,
            parent: None,
            created_by: format!("import {}", opts.source),
        },
    )?;
    let config = import_config(
        &diff_id,
        SystemTime::now(),
        opts.changes.clone(),
        &opts.source,
        opts.message.as_deref(),
    )?;
    let config = ConfigBlob::encode(config, &Map::new())?;
    let config_ref = store.put_blob_bytes(&config.bytes)?;
    let layer_type = Flavor::Oci.layer(compression::Compression::None);
    let layers = vec![descriptor(layer_type, &diff_id, layer_blob.size)?];
    let manifest = ManifestBlob::build(Flavor::Oci, &config, layers, None)?;
    let manifest_ref = store.put_blob_bytes(&manifest.bytes)?;
    let new = NewImage {
        manifest: manifest_ref,
        manifest_media_type: Flavor::Oci.manifest().to_string(),
        config: config_ref,
        layers: vec![LayerRecord {
            blob: layer_blob,
            media_type: layer_type.to_string(),
            diff_id,
            snapshot,
        }],
        created: config.config.created().clone(),
        index: None,
    };
    Ok(store.add_image(new, &opts.tags)?)
}
