//! A layer of a stage being built. The steps of a stage whose layers will
//! be the built image's hash their tar as they commit (one pass over the
//! files gives the snapshot's measure and the tar's diff_id and size; the
//! tar itself is made from the snapshot when an export, a push or a save
//! reads it). The steps of any other stage (a builder's toolchain, a test
//! stage) keep only their snapshot, hashed if an image later holds it
//! ([`Store::layer_ref`]): the image of `--target` that stage, a
//! `--cache-to mode=max`, a later build whose image holds it. The cache
//! key is a content key either way, so deferring changes no cache
//! decision.

use kiln_cache::image::ImageConfig;
use kiln_cache::{CachedLayer, LayerRecord, NewSnapshot, SnapshotId, StagingDir, Store};
use rayon::prelude::*;

use crate::BuildError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageLayer {
    /// An image layer in the store: a base image's, or a step's whose tar
    /// is hashed (its blob is written, or made from the snapshot when
    /// something reads it).
    Named(LayerRecord),
    /// A step's snapshot, whose tar is not even hashed yet.
    Deferred(SnapshotId),
}

impl StageLayer {
    pub fn snapshot(&self) -> &SnapshotId {
        match self {
            StageLayer::Named(l) => &l.snapshot,
            StageLayer::Deferred(s) => s,
        }
    }

    /// The layer as an image layer, its tar hashed now if it was
    /// deferred (its blob is made when something reads it).
    pub fn named(self, store: &Store) -> Result<LayerRecord, BuildError> {
        match self {
            StageLayer::Named(l) => Ok(l),
            StageLayer::Deferred(snapshot) => {
                let blob = store.layer_ref(&snapshot)?;
                Ok(LayerRecord::uncompressed(blob, snapshot))
            }
        }
    }
}

/// A cached step's layer: named when its diff_id and size are known.
impl From<CachedLayer> for StageLayer {
    fn from(l: CachedLayer) -> StageLayer {
        match l.blob {
            Some(blob) => StageLayer::Named(LayerRecord::uncompressed(blob, l.snapshot)),
            None => StageLayer::Deferred(l.snapshot),
        }
    }
}

impl From<&StageLayer> for CachedLayer {
    fn from(l: &StageLayer) -> CachedLayer {
        CachedLayer {
            snapshot: l.snapshot().clone(),
            blob: match l {
                StageLayer::Named(w) => Some(w.blob),
                StageLayer::Deferred(_) => None,
            },
        }
    }
}

/// `layers` as image layers, and `config`'s `rootfs` naming them.
pub fn named(
    store: &Store,
    config: &mut ImageConfig,
    layers: Vec<StageLayer>,
) -> Result<Vec<LayerRecord>, BuildError> {
    // A tar is hashed on one core; several deferred layers at once use
    // them all.
    let layers = layers
        .into_par_iter()
        .map(|l| l.named(store))
        .collect::<Result<Vec<_>, _>>()?;
    config.set_diff_ids(layers.iter().map(|l| l.diff_id.to_string()).collect());
    Ok(layers)
}

/// A step's layer directory as a snapshot whose tar is deferred.
pub fn commit_deferred(
    store: &Store,
    staging: StagingDir,
    parent: Option<&SnapshotId>,
    created_by: &str,
    source_date_epoch: Option<i64>,
) -> Result<StageLayer, BuildError> {
    // Clamped now, as an image's layer is: the tar written later reads
    // the times from the files.
    crate::exporter::epoch::clamp_layer(staging.path(), source_date_epoch)?;
    staging.flush_behind();
    let new = NewSnapshot {
        diff_id: None,
        tar_size: None,
        parent: parent.cloned(),
        created_by: created_by.to_string(),
    };
    Ok(StageLayer::Deferred(store.commit_snapshot(staging, new)?))
}
