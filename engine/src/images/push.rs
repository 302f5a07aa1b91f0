//! `push`: a stored image to the registry its name points at.

use kiln_cache::registry::{self, RegistryConfig};
use kiln_cache::{Digest, Reference};

use super::error::ImageError;
use super::{LayerEvent, Progress, Transfer};
use crate::{Engine, Error};

#[derive(Debug, Clone, Copy)]
pub struct PushOptions<'a> {
    pub registry: &'a RegistryConfig,
    /// Blobs larger than this many bytes go up in chunks of it.
    pub chunk_size: Option<u64>,
}

/// What a push left in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
}

impl Engine {
    /// Pushes the image `reference` names to its registry.
    pub fn push_image(
        &self,
        reference: &Reference,
        opts: &PushOptions<'_>,
        progress: Progress<'_>,
    ) -> Result<Pushed, Error> {
        let store = self.image_store()?;
        let name = reference.familiar();
        let entry = store
            .resolve_image(&reference.to_string())
            .map_err(|source| ImageError::NotLocal {
                reference: name.clone(),
                source,
            })?;
        progress(Transfer::Started);
        let mut push_opts = registry::PushOptions::default();
        if let Some(size) = opts.chunk_size {
            push_opts.chunk_size = size;
        }
        let on_layer = |e: &LayerEvent| progress(Transfer::Layer(e));
        let digest = registry::push(
            &store,
            &entry.image,
            reference,
            opts.registry,
            &push_opts,
            &on_layer,
        )
        .map_err(|source| ImageError::Push {
            reference: name.clone(),
            source,
        })?;
        self.note_image("push", &name, &name);
        Ok(Pushed {
            digest,
            size: entry.image.manifest.size,
        })
    }
}
