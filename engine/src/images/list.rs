//! `images`: every stored image once per name it has (once, unnamed, when
//! it has none), newest first, as `docker images` lists them.

use std::time::SystemTime;

use kiln_cache::image_store::ImageEntry;
use kiln_cache::{Digest, Reference};

use super::error::ImageError;
use crate::filter::created_time;
use crate::{Engine, Error};

/// One image under one of its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRow {
    /// The image ID (the config's digest).
    pub id: Digest,
    /// The manifest's digest.
    pub digest: Digest,
    /// `None` for an image without names (`<none>`).
    pub name: Option<Reference>,
    /// The config's `created`, when it has a readable one.
    pub created: Option<SystemTime>,
    /// Unpacked bytes of all layers.
    pub size: u64,
}

impl Engine {
    /// The stored images, newest first; with `repository` (`NAME[:TAG]`)
    /// only the rows of that name (and tag).
    pub fn list_images(&self, repository: Option<&str>) -> Result<Vec<ImageRow>, Error> {
        let store = self.image_store()?;
        let filter = repository
            .map(Reference::parse_name_only)
            .transpose()
            .map_err(ImageError::from)?;
        let mut entries = store.images()?;
        // Each time parsed once, not once per comparison.
        entries.sort_by_cached_key(|e| std::cmp::Reverse(created(e)));
        Ok(entries
            .iter()
            .flat_map(rows)
            .filter(|row| wanted(filter.as_ref(), row.name.as_ref()))
            .collect())
    }
}

fn rows(entry: &ImageEntry) -> Vec<ImageRow> {
    let row = |name: Option<&Reference>| ImageRow {
        id: *entry.image.id(),
        digest: entry.image.manifest.digest,
        name: name.cloned(),
        created: created(entry),
        size: entry.image.size,
    };
    if entry.refs.is_empty() {
        return vec![row(None)];
    }
    entry.refs.iter().map(|r| row(Some(r))).collect()
}

/// A filter without a tag takes every tag of the name; no unnamed row
/// matches a filter.
fn wanted(filter: Option<&Reference>, name: Option<&Reference>) -> bool {
    match (filter, name) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(f), Some(n)) => n.name() == f.name() && (f.tag().is_none() || f.tag() == n.tag()),
    }
}

pub(super) fn created(entry: &ImageEntry) -> Option<SystemTime> {
    entry.image.created.as_deref().and_then(created_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Reference {
        Reference::parse_normalized(s).unwrap()
    }

    #[test]
    fn a_filter_without_a_tag_takes_every_tag() {
        let filter = Reference::parse_name_only("busybox").unwrap();
        assert!(wanted(Some(&filter), Some(&name("busybox:1"))));
        assert!(wanted(Some(&filter), Some(&name("busybox"))));
        assert!(!wanted(Some(&filter), Some(&name("alpine"))));
        assert!(!wanted(Some(&filter), None));
        assert!(wanted(None, None));
    }

    #[test]
    fn a_filter_with_a_tag_takes_that_tag() {
        let filter = Reference::parse_name_only("busybox:1").unwrap();
        assert!(wanted(Some(&filter), Some(&name("busybox:1"))));
        assert!(!wanted(Some(&filter), Some(&name("busybox:2"))));
    }
}
