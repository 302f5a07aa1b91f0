//! `pull`, and what `run` and `create` pull first: Docker's `--pull`
//! policy decides whether the store's copy will do.

use std::sync::atomic::{AtomicBool, Ordering};

use kiln_cache::registry::{self, LayerState, Platform, RegistryConfig};
use kiln_cache::{Digest, ImageRecord, Reference, StoreError};

use super::error::ImageError;
use super::{LayerEvent, Progress, Transfer};
use crate::{Engine, Error};

/// Docker's `--pull` for `run` and `create`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull when the store has no such image.
    #[default]
    Missing,
    /// Pull every time (the registry's copy may be newer).
    Always,
    /// Never pull: a missing image is an error.
    Never,
}

/// What a policy asks for before a container is made from an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullNeed {
    /// The store's image will do (or the policy forbids a pull, and making
    /// the container reports the missing image).
    Present,
    /// Not in the store: pull it.
    Missing(Reference),
    /// Pull it whatever the store has.
    Always(Reference),
}

#[derive(Debug, Clone, Copy)]
pub struct PullOptions<'a> {
    pub registry: &'a RegistryConfig,
    /// Which image of a multi-platform index; `None` for the host's.
    pub platform: Option<&'a Platform>,
}

/// The outcome of a pull.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub image: ImageRecord,
    /// The digest the name resolved to: the index's, if there was one
    /// (the one Docker prints).
    pub digest: Digest,
    /// Whether the name now points at an image it did not point at before,
    /// or a layer had to be fetched or unpacked (Docker's "Downloaded newer
    /// image" rather than "Image is up to date").
    pub newer: bool,
}

impl Engine {
    /// Whether `reference` must be pulled under `policy`.
    pub fn pull_need(&self, reference: &str, policy: PullPolicy) -> Result<PullNeed, Error> {
        let parse = || Reference::parse_normalized(reference).map_err(ImageError::from);
        match policy {
            PullPolicy::Never => Ok(PullNeed::Present),
            PullPolicy::Always => Ok(PullNeed::Always(parse()?)),
            PullPolicy::Missing => match self.image_store()?.find_image(reference) {
                Ok(_) => Ok(PullNeed::Present),
                Err(StoreError::ImageNotFound(_)) => Ok(PullNeed::Missing(parse()?)),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Pulls `reference` into the store and tags it (unless it names a
    /// digest).
    pub fn pull_image(
        &self,
        reference: &Reference,
        opts: &PullOptions<'_>,
        progress: Progress<'_>,
    ) -> Result<Pulled, Error> {
        let store = self.image_store()?;
        let before = store
            .find_image(&reference.to_string())
            .ok()
            .map(|e| e.image.manifest.digest);
        progress(Transfer::Started);
        let transferred = AtomicBool::new(false);
        let on_layer = |e: &LayerEvent| {
            if moved(&e.state) {
                transferred.store(true, Ordering::Relaxed);
            }
            progress(Transfer::Layer(e));
        };
        let image = registry::pull(&store, reference, opts.registry, opts.platform, &on_layer)
            .map_err(|source| ImageError::Pull {
                reference: reference.familiar(),
                source,
            })?;
        let name = reference.familiar();
        self.note_image("pull", &name, &name);
        let newer = transferred.into_inner() || before != Some(image.manifest.digest);
        Ok(Pulled {
            digest: image
                .index
                .as_ref()
                .map_or(image.manifest.digest, |i| i.digest),
            image,
            newer,
        })
    }
}

/// A layer that was neither queued nor already there moved bytes.
fn moved(state: &LayerState) -> bool {
    !matches!(state, LayerState::Waiting | LayerState::Exists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queued_and_present_layers_count_as_unmoved() {
        assert!(!moved(&LayerState::Waiting));
        assert!(!moved(&LayerState::Exists));
        assert!(moved(&LayerState::Downloading { done: 1 }));
        assert!(moved(&LayerState::Extracting));
        assert!(moved(&LayerState::Complete));
    }

    #[test]
    fn never_asks_for_nothing_and_always_for_a_pull() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::new(root.path());
        assert_eq!(
            engine.pull_need("busybox", PullPolicy::Never).unwrap(),
            PullNeed::Present
        );
        let want = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(
            engine.pull_need("busybox", PullPolicy::Always).unwrap(),
            PullNeed::Always(want.clone())
        );
        assert_eq!(
            engine.pull_need("busybox", PullPolicy::Missing).unwrap(),
            PullNeed::Missing(want)
        );
    }
}
