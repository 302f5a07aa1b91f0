//! How image operations fail beyond the store's own errors. Docker's
//! conflict messages word for word: scripts match on them.

use std::io;
use std::path::PathBuf;

use kiln_cache::archive::ArchiveError;
use kiln_cache::registry::RegistryError;
use kiln_cache::{HoldsError, ReferenceError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("refusing to create a tag with a digest reference")]
    TagWithDigest,
    #[error(transparent)]
    Holds(#[from] HoldsError),
    #[error("conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {image}")]
    UntagInUse {
        reference: String,
        container: String,
        image: String,
    },
    #[error("conflict: unable to delete {image} (cannot be forced) - image is being used by running container {container}")]
    UsedByRunning { image: String, container: String },
    #[error("conflict: unable to delete {image} (must be forced) - image is being used by stopped container {container}")]
    UsedByStopped { image: String, container: String },
    #[error("conflict: unable to delete {image} (must be forced) - image is referenced in multiple repositories")]
    ManyNames { image: String },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("{op} {}", .path.display())]
    File {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("pulling {reference}")]
    Pull {
        reference: String,
        source: RegistryError,
    },
    #[error("an image does not exist locally with the tag: {reference}")]
    NotLocal {
        reference: String,
        source: StoreError,
    },
    #[error("invalid filter '{0}'")]
    Filter(String),
    #[error(transparent)]
    Pattern(#[from] super::pattern::BadPattern),
    #[error("pushing {reference}")]
    Push {
        reference: String,
        source: RegistryError,
    },
}

impl From<ImageError> for crate::Error {
    fn from(e: ImageError) -> crate::Error {
        crate::Error::Image(Box::new(e))
    }
}
