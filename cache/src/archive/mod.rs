//! Image archives: `docker save` tars (manifest.json + repositories) and OCI
//! image layout tars (oci-layout + index.json), read by `load` and written
//! by `save` and the build's `--output type=docker|oci`; and rootfs tars,
//! which `import` turns into one-layer images.

pub mod docker;
pub mod load;
pub mod oci;
pub mod rootfs;
mod staged;
mod tar_out;
mod variant;

use std::io;

use crate::compression::CompressionError;
use crate::digest::{Digest, DigestError};
use crate::image::{ConfigError, ManifestError};
use crate::layer::{ApplyError, TarLimitError};
use crate::store::StoreError;

pub use load::{load, LoadedImage};
pub use rootfs::{import, ImportOptions};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{context}")]
    Io { context: String, source: io::Error },
    #[error("reading the archive")]
    Malformed(#[source] io::Error),
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error("unpacking a layer")]
    Layer(#[from] ApplyError),
    #[error(transparent)]
    Limit(#[from] TarLimitError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("not an image archive: it has neither manifest.json nor index.json")]
    NotAnArchive,
    #[error("the archive lacks {0}")]
    Missing(String),
    #[error("{path} in the archive does not match its digest (content is {actual})")]
    DigestMismatch { path: String, actual: Digest },
    #[error("layer {index} unpacks to {actual}, but the image config says {expected}")]
    DiffIdMismatch {
        index: usize,
        expected: Digest,
        actual: Digest,
    },
    #[error("invalid {what}: {detail}")]
    Invalid { what: String, detail: String },
}

impl ArchiveError {
    /// A read error of the archive, which is the tar limit's refusal when it
    /// carries one.
    pub(crate) fn malformed(source: io::Error) -> ArchiveError {
        match TarLimitError::find(&source) {
            Some(limit) => ArchiveError::Limit(limit.clone()),
            None => ArchiveError::Malformed(source),
        }
    }
}

impl From<StoreError> for ArchiveError {
    fn from(e: StoreError) -> Self {
        // Boxed: StoreError is large, and every Result here would carry it.
        ArchiveError::Store(Box::new(e))
    }
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let context = context.into();
    move |source| ArchiveError::Io { context, source }
}

/// Which archive `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `docker save`: manifest.json, repositories, uncompressed layers, and
    /// (as Docker 25 writes) an index.json over Docker v2 schema 2
    /// manifests, so OCI tools read it too.
    Docker,
    /// An OCI image layout: oci-layout, index.json, blobs/sha256/*.
    Oci,
}

pub use docker::save as save_docker;
pub use oci::save as save_oci;
