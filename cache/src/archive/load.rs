//! `kiln load`: an archive of either kind → images in the store. The order
//! is what keeps a bad archive harmless: read and verify everything into
//! staging, unpack each layer not yet in the store (checking its diff_id
//! against the config), then store blobs, then record the image and its
//! names in one transaction. A failure before the last step leaves only
//! complete, unreferenced content, which GC removes.

use std::io::Read;

use oci_spec::image::Descriptor;

use crate::blobs::BlobRef;
use crate::digest::Digest;
use crate::image::manifest::{descriptor_digest, layer_compression};
use crate::image::{ConfigBlob, ManifestBlob};
use crate::image_store::{LayerRecord, NewImage};
use crate::layer;
use crate::reference::Reference;
use crate::snapshot::{NewSnapshot, SnapshotId};
use crate::store::Store;

use super::staged::{Staged, StagedFile};
use super::{docker, oci, ArchiveError};

/// One image an archive held, with the names it carried.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub manifest: ManifestBlob,
    pub names: Vec<Reference>,
}

/// What `load` put in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: Digest,
    pub manifest: Digest,
    pub names: Vec<Reference>,
}

/// Loads every image of a `docker save` or OCI layout archive (compressed
/// or not) from `input`.
pub fn load<R: Read>(store: &Store, input: R) -> Result<Vec<LoadedImage>, ArchiveError> {
    let staged = Staged::read(store, input)?;
    let candidates = if staged.has("index.json") {
        oci::candidates(&staged)?
    } else if staged.has("manifest.json") {
        docker::candidates(&staged)?
    } else {
        return Err(ArchiveError::NotAnArchive);
    };
    candidates
        .into_iter()
        .map(|c| load_one(store, &staged, c))
        .collect()
}

fn load_one(store: &Store, staged: &Staged, cand: Candidate) -> Result<LoadedImage, ArchiveError> {
    let config_digest = cand.manifest.config_digest()?;
    let config_file = staged.by_digest(&config_digest)?;
    let config_bytes = config_file
        .small
        .clone()
        .ok_or_else(|| ArchiveError::Missing(format!("config {config_digest}")))?;
    let config = ConfigBlob::parse(config_bytes)?;
    let diff_ids = config
        .config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    let layers = cand.manifest.manifest.layers();
    if layers.len() != diff_ids.len() {
        return Err(ArchiveError::Invalid {
            what: "image".to_string(),
            detail: format!(
                "the manifest has {} layers but the config lists {} diff_ids",
                layers.len(),
                diff_ids.len()
            ),
        });
    }
    let mut records = Vec::with_capacity(layers.len());
    for (index, (desc, diff_id)) in layers.iter().zip(&diff_ids).enumerate() {
        records.push(load_layer(store, staged, index, desc, diff_id)?);
    }
    let config_ref = put_staged(store, config_file)?;
    let manifest_ref = store.put_blob_bytes(&cand.manifest.bytes)?;
    let new = NewImage {
        manifest: manifest_ref,
        manifest_media_type: cand.manifest.flavor.manifest().to_string(),
        config: config_ref,
        layers: records,
        created: config.config.created().clone(),
        index: None,
    };
    store.add_image(new, &cand.names)?;
    Ok(LoadedImage {
        id: config.digest,
        manifest: cand.manifest.digest,
        names: cand.names,
    })
}

/// Unpacks one layer unless a snapshot of its diff_id exists, then stores
/// its blob.
fn load_layer(
    store: &Store,
    staged: &Staged,
    index: usize,
    desc: &Descriptor,
    diff_id: &Digest,
) -> Result<LayerRecord, ArchiveError> {
    let digest = descriptor_digest(desc)?;
    layer_compression(desc)?;
    let file = staged.by_digest(&digest)?;
    let snapshot = match store.snapshot_by_diff_id(diff_id)? {
        Some(existing) => existing,
        None => unpack(store, file, index, diff_id)?,
    };
    let blob = put_staged(store, file)?;
    Ok(LayerRecord {
        blob,
        media_type: desc.media_type().to_string(),
        diff_id: *diff_id,
        snapshot,
    })
}

fn unpack(
    store: &Store,
    file: &StagedFile,
    index: usize,
    diff_id: &Digest,
) -> Result<SnapshotId, ArchiveError> {
    let staging = store.new_snapshot_staging()?;
    let applied = layer::apply(Staged::open(file)?, staging.path())?;
    if applied.diff_id != *diff_id {
        return Err(ArchiveError::DiffIdMismatch {
            index,
            expected: *diff_id,
            actual: applied.diff_id,
        });
    }
    let new = NewSnapshot {
        diff_id: Some(*diff_id),
        tar_size: None,
        parent: None,
        created_by: format!("load layer {diff_id}"),
    };
    Ok(store.commit_snapshot(staging, new)?)
}

/// Puts a staged member into the store's blobs, verified against the
/// digest it was staged under.
fn put_staged(store: &Store, file: &StagedFile) -> Result<BlobRef, ArchiveError> {
    if store.has_blob(&file.digest)? {
        return Ok(BlobRef {
            digest: file.digest,
            size: file.size,
        });
    }
    Ok(store.put_blob_from_reader(Staged::open(file)?, Some(&file.digest))?)
}
