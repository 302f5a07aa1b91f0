//! kiln's content-addressed store and image formats.
//!
//! The store ([`Store`]) keeps blobs, unpacked layer snapshots, image refs
//! and build-cache records under one root, safe for several kiln processes
//! at once and across crashes. The format modules (`layer`, `compression`,
//! `image`, `archive`) turn layers and images into bytes and back.

pub mod archive;
pub mod blobs;
pub mod check;
pub mod compression;
pub mod crashpoint;
pub mod digest;
pub mod digesting;
pub mod du;
mod durable;
mod gc;
pub mod hold;
mod id;
pub mod image;
pub mod image_store;
pub mod layer;
mod layer_blob;
mod lock;
mod meta;
mod meta_lookup;
mod meta_touch;
mod pipe;
pub mod prune;
pub mod record;
pub mod reference;
pub mod registry;
pub mod snapshot;
mod staged;
pub mod store;
pub mod tree_measure;
pub mod units;
mod usage;
pub mod variants;

#[cfg(test)]
mod store_tests;

pub use blobs::{BlobRef, BlobWriter};
pub use check::{CheckReport, Problem};
pub use crashpoint::{crash_point, stop_point};
pub use digest::{Digest, DigestError};
pub use du::{DfRow, DiskUsage, RecordUsage, SystemDf, UsageTotals};
pub use hold::{Hold, Holds, HoldsError, NoHolds};
pub use image_store::{ImageEntry, ImageRecord, LayerRecord, NewImage, RemovedImage};
pub use layer_blob::LayerSource;
pub use meta::MetaError;
pub use meta_lookup::{CachedLayer, CachedStep};
pub use prune::{PruneOptions, PruneReport};
pub use record::{CacheRecord, Ingredient, NewRecord, RecordKind};
pub use reference::{Reference, ReferenceError};
pub use snapshot::{NewSnapshot, SnapshotId, SnapshotInfo, StagingDir};
pub use store::{Store, StoreError};
