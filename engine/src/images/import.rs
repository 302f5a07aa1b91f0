//! `import`: a rootfs tarball (plain or compressed) as a one-layer image.

use std::io::Read;

use kiln_cache::archive;
use kiln_cache::image::change::{self, Change};
use kiln_cache::{Digest, Reference};

use super::error::ImageError;
use crate::{Engine, Error};

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The name to give the image.
    pub reference: Option<Reference>,
    /// Settings over an empty config (CMD, ENV, …).
    pub changes: Vec<Change>,
    /// The history comment; by default "Imported from SOURCE".
    pub message: Option<String>,
    /// What was imported (a file name, or `-`), for the history comment.
    pub source: String,
}

impl Engine {
    /// Stores the rootfs tar read from `input` as an image; returns its ID.
    pub fn import_image(&self, input: impl Read, opts: &ImportOptions) -> Result<Digest, Error> {
        let store = self.image_store()?;
        let settings = (!opts.changes.is_empty()).then(|| {
            let mut config = change::Config::default();
            change::apply_all(&mut config, opts.changes.clone());
            config
        });
        let archive_opts = archive::ImportOptions {
            changes: settings,
            message: opts.message.clone(),
            source: opts.source.clone(),
            tags: opts.reference.iter().cloned().collect(),
        };
        let image = archive::import(&store, input, &archive_opts).map_err(ImageError::from)?;
        let id = *image.id();
        self.note_image("import", &id.to_string(), &id.to_string());
        Ok(id)
    }
}
