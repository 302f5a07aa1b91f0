//! `tag SOURCE TARGET`: another name for a stored image.

use kiln_cache::Reference;

use super::error::ImageError;
use crate::{Engine, Error};

impl Engine {
    /// Points `target` at the image `source` names; a name with a digest
    /// cannot be a tag.
    pub fn tag_image(&self, source: &str, target: &str) -> Result<(), Error> {
        let store = self.image_store()?;
        let entry = store.resolve_image(source)?;
        let target = Reference::parse_normalized(target).map_err(ImageError::from)?;
        if target.digest().is_some() {
            return Err(ImageError::TagWithDigest.into());
        }
        store.tag_image(&entry.image.manifest.digest, &target)?;
        self.note_image("tag", &entry.image.id().to_string(), &target.familiar());
        Ok(())
    }
}
