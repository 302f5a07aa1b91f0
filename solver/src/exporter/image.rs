//! Layers and images into the store. A step's layer directory is written
//! once as a deterministic tar (the cache crate's layer writer) to get its
//! diff_id, then committed as a snapshot; a cached step reuses both by
//! metadata alone. The image is config + manifest + tags.

use std::path::Path;

use kiln_cache::compression::Compression;
use kiln_cache::image::manifest::descriptor;
use kiln_cache::image::{Flavor, ImageConfig, ManifestBlob};
use kiln_cache::layer::diff::{diff_measured_aside, DiffOptions};
use kiln_cache::{
    CacheRecord, ImageRecord, LayerRecord, NewImage, NewSnapshot, Reference, SnapshotId,
    StagingDir, Store,
};

use super::error::ExportError;
use crate::stage_layer::StageLayer;
use crate::BuildError;

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

/// A directory that is not a Dockerfile step's (a named context's files)
/// as a stored layer; `None` when it holds nothing.
pub fn commit_layer(
    store: &Store,
    staging: StagingDir,
    parent: Option<&SnapshotId>,
    created_by: &str,
    source_date_epoch: Option<i64>,
) -> Result<Option<LayerRecord>, BuildError> {
    if is_empty_dir(staging.path()) {
        return Ok(None);
    }
    commit_step_layer(store, staging, parent, created_by, source_date_epoch).map(Some)
}

/// A step's layer directory as a stored layer, even when it holds nothing:
/// a RUN, COPY, ADD or WORKDIR that changed no file still makes a layer (an
/// empty tar) in BuildKit and Docker, and its history entry is not
/// `empty_layer`.
pub fn commit_step_layer(
    store: &Store,
    staging: StagingDir,
    parent: Option<&SnapshotId>,
    created_by: &str,
    source_date_epoch: Option<i64>,
) -> Result<LayerRecord, BuildError> {
    super::epoch::clamp_layer(staging.path(), source_date_epoch)?;
    let opts = DiffOptions {
        source_date_epoch,
        compression: Compression::None,
        ..DiffOptions::default()
    };
    // Measured and hashed in one pass over the step's files. The tar is
    // not written: an export, a push or a save makes it from the snapshot
    // (`Store::layer_source`), which is the same bytes.
    staging.flush_behind();
    let (digests, tree) = diff_measured_aside(staging.path(), &opts).map_err(ExportError::Diff)?;
    let blob = digests.blob();
    let snapshot = store.commit_measured_snapshot(
        staging,
        NewSnapshot {
            diff_id: Some(digests.diff_id),
            tar_size: Some(digests.size),
            parent: parent.cloned(),
            created_by: created_by.to_string(),
        },
        Some(tree),
    )?;
    Ok(LayerRecord::uncompressed(blob, snapshot))
}

/// The layer a cache record points at: `Some(None)` for a step that made
/// no layer, `None` when the record cannot be used (see
/// [`Store::cached_layer`]).
pub fn layer_of_record(
    store: &Store,
    record: &CacheRecord,
) -> Result<Option<Option<StageLayer>>, BuildError> {
    let Some(snapshot) = &record.snapshot else {
        return Ok(Some(None));
    };
    Ok(store.cached_layer(snapshot)?.map(|l| Some(l.into())))
}

/// Stores config and manifest for `layers` and adds the image, tagged.
pub fn write_image(
    store: &Store,
    config: &ImageConfig,
    layers: &[LayerRecord],
    tags: &[Reference],
) -> Result<ImageRecord, BuildError> {
    write_image_annotated(store, config, layers, tags, &[])
}

/// [`write_image`] with `--annotation`s on the manifest.
pub fn write_image_annotated(
    store: &Store,
    config: &ImageConfig,
    layers: &[LayerRecord],
    tags: &[Reference],
    annotations: &[(String, String)],
) -> Result<ImageRecord, BuildError> {
    let blob = config.to_blob().map_err(ExportError::Config)?;
    let config_ref = store.put_blob_bytes(&blob.bytes)?;
    let descs = layers
        .iter()
        .map(|l| descriptor(&l.media_type, &l.blob.digest, l.blob.size))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ExportError::Manifest)?;
    let notes = (!annotations.is_empty()).then(|| annotations.iter().cloned().collect());
    let manifest =
        ManifestBlob::build(Flavor::Oci, &blob, descs, notes).map_err(ExportError::Manifest)?;
    let manifest_ref = store.put_blob_bytes(&manifest.bytes)?;
    let created = config
        .doc
        .get("created")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let new = NewImage {
        manifest: manifest_ref,
        manifest_media_type: Flavor::Oci.manifest().to_string(),
        config: config_ref,
        layers: layers.to_vec(),
        created,
        index: None,
    };
    Ok(store.add_image(new, tags)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tar of no files: two zero blocks, as BuildKit's empty layers are.
    const EMPTY_TAR_DIFF_ID: &str =
        "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

    #[test]
    fn a_step_that_changed_nothing_still_makes_a_layer() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let staging = store.new_snapshot_staging().unwrap();
        let layer = commit_step_layer(&store, staging, None, "RUN true", None).unwrap();
        assert_eq!(layer.diff_id.to_string(), EMPTY_TAR_DIFF_ID);
        assert_eq!(layer.blob.size, 1024);
        assert!(store.snapshot_path(&layer.snapshot).is_dir());
    }

    #[test]
    fn an_empty_named_context_directory_makes_no_layer() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let staging = store.new_snapshot_staging().unwrap();
        let layer = commit_layer(&store, staging, None, "build context x", None).unwrap();
        assert!(layer.is_none());
    }
}
