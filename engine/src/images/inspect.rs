//! `image inspect`: the object `docker image inspect` prints.

use kiln_cache::image::inspect::{inspect, InspectInput};
use kiln_cache::image::ConfigBlob;
use kiln_cache::Store;
use serde_json::Value;

use crate::{Engine, Error};

impl Engine {
    /// Docker's inspect object for the image `reference` names.
    pub fn inspect_image(&self, reference: &str) -> Result<Value, Error> {
        image_object(&self.image_store()?, reference)
    }

    /// The image's history, newest first: a row per history entry, with
    /// the size of the layer it made.
    pub fn image_history(&self, reference: &str) -> Result<Vec<super::HistoryRow>, Error> {
        let store = self.image_store()?;
        let entry = store.resolve_image(reference)?;
        let config =
            ConfigBlob::parse(store.image_config(&entry.image)?).map_err(Error::NewConfig)?;
        let mut sizes = Vec::new();
        for layer in &entry.image.layers {
            sizes.push(store.snapshot(&layer.snapshot)?.map_or(0, |s| s.size));
        }
        Ok(kiln_cache::image::history::rows(
            &config.config,
            entry.image.id(),
            &sizes,
        ))
    }
}

/// The inspect object of the image `reference` names in `store` (also
/// `inspect NAME`'s, for a name that is no container).
pub(crate) fn image_object(store: &Store, reference: &str) -> Result<Value, Error> {
    let entry = store.resolve_image(reference)?;
    let config = store.image_config(&entry.image)?;
    Ok(inspect(&InspectInput {
        image_id: entry.image.id(),
        manifest_digest: &entry.image.manifest.digest,
        refs: &entry.refs,
        config_bytes: &config,
        size: entry.image.size,
    }))
}
