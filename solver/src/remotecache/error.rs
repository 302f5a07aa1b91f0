//! Why a remote cache could not be read or written. Each variant says
//! where, and keeps what went wrong whole as its source.

use std::error::Error;
use std::path::PathBuf;

use kiln_cache::registry::RegistryError;
use kiln_cache::Digest;

use crate::BuildError;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache manifest")]
    Manifest(#[source] serde_json::Error),
    #[error("cache manifest: no config digest")]
    NoConfigDigest,
    #[error("cache manifest: config {0} does not match its digest")]
    ConfigDigest(Digest),
    #[error("cache manifest: cache config")]
    Config(#[source] serde_json::Error),
    #[error("cache manifest: the image has no inline cache")]
    NoInlineCache,
    #[error("encoding the cache config")]
    EncodeConfig(#[source] serde_json::Error),
    #[error("encoding the inline cache")]
    EncodeInline(#[source] serde_json::Error),
    #[error("inline cache")]
    Inline(#[source] serde_json::Error),
    #[error("inline cache: the manifest and the config list different layer counts")]
    InlineLayerCount,
    #[error("cached layer {digest}")]
    Layer {
        digest: String,
        #[source]
        source: LayerError,
    },
    #[error("cache directory {}", .dir.display())]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cache directory {}: index.json", .dir.display())]
    Index {
        dir: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cache directory {}: index.json names no manifest", .dir.display())]
    NoManifest { dir: PathBuf },
    #[error("cache directory {}: blob {digest} does not match its digest", .dir.display())]
    BlobDigest { dir: PathBuf, digest: Digest },
    #[error(transparent)]
    EncodeIndex(serde_json::Error),
    /// `name` is the reference as users write it (`app:cache`).
    #[error("cache {name}")]
    Registry {
        name: String,
        #[source]
        source: RegistryError,
    },
    #[error("cache {name}")]
    RegistryManifest {
        name: String,
        #[source]
        source: kiln_cache::image::manifest::ManifestError,
    },
    #[error("cache {name}")]
    RegistryRead {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cache mount {id:?}")]
    Mount {
        id: String,
        #[source]
        source: Box<crate::ops::mounts::MountError>,
    },
    #[error("cache mount {id:?}: measuring its content")]
    MountRead {
        id: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cache mount {id:?}: packing its content")]
    Pack {
        id: String,
        #[source]
        source: kiln_cache::layer::diff::DiffError,
    },
    #[error("cache mount {id:?}")]
    Restore {
        id: String,
        #[source]
        source: Box<super::cachemount::RestoreError>,
    },
    #[error("cache {name}: {problem}")]
    Remote {
        name: String,
        problem: RemoteProblem,
    },
}

/// What a registry's cache lacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RemoteProblem {
    #[error("not found")]
    NotFound,
    #[error("no manifest for this platform")]
    NoPlatform,
    #[error("manifest in its index not found")]
    IndexedNotFound,
    #[error("manifest does not match its digest")]
    ManifestDigest,
}

/// Why an imported layer could not be taken into the store.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Digest(#[from] kiln_cache::DigestError),
    #[error("unknown media type {0}")]
    MediaType(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Compression(#[from] kiln_cache::compression::CompressionError),
    #[error(transparent)]
    Apply(#[from] kiln_cache::layer::apply::ApplyError),
    #[error("unpacks to a different diff_id")]
    DiffId,
}

// Boxed in the build's error: a registry's error is large, and every
// step of a build returns `Result<_, BuildError>`.
impl From<CacheError> for BuildError {
    fn from(e: CacheError) -> BuildError {
        BuildError::RemoteCache(Box::new(e))
    }
}

/// `e` and its causes, `: `-separated, as the CLI shows an error: for
/// the messages that go out as progress events instead.
pub fn with_causes(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
