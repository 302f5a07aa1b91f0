//! `images`: every stored image once per name it has (once, unnamed, when
//! it has none), newest first, as `docker images` lists them.

use std::collections::BTreeMap;
use std::time::SystemTime;

use kiln_cache::image_store::ImageEntry;
use kiln_cache::{Digest, Reference, Store};

use super::error::ImageError;
use super::filter::{Bounds, ImageFilters};
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
        self.list_images_filtered(repository, &ImageFilters::default())
    }

    /// As [`Engine::list_images`], with `images --filter`'s selections.
    pub fn list_images_filtered(
        &self,
        repository: Option<&str>,
        filters: &ImageFilters,
    ) -> Result<Vec<ImageRow>, Error> {
        let store = self.image_store()?;
        let filter = repository
            .map(Reference::parse_name_only)
            .transpose()
            .map_err(ImageError::from)?;
        let bounds = Bounds {
            before: bound_times(&store, &filters.before)?,
            since: bound_times(&store, &filters.since)?,
        };
        let mut entries = store.images()?;
        entries.retain(|e| bounds.takes(created(e)));
        if filters.has_labels() {
            entries = with_labels(&store, entries, filters)?;
        }
        // Each time parsed once, not once per comparison.
        entries.sort_by_cached_key(|e| std::cmp::Reverse(created(e)));
        Ok(entries
            .iter()
            .filter(|e| filters.takes_names(!e.refs.is_empty()))
            .flat_map(rows)
            .filter(|row| wanted(filter.as_ref(), row.name.as_ref()))
            .filter(|row| row.name.as_ref().is_none_or(|n| filters.takes_name(n)))
            .collect())
    }
}

/// The created times of the images `before=`/`since=` name; one that is
/// not there is an error, as in Docker.
fn bound_times(store: &Store, refs: &[String]) -> Result<Vec<SystemTime>, Error> {
    refs.iter()
        .map(|r| {
            let entry = store.find_image(r)?;
            Ok(created(&entry).unwrap_or(SystemTime::UNIX_EPOCH))
        })
        .collect()
}

/// The entries whose config's labels pass the label filters.
fn with_labels(
    store: &Store,
    entries: Vec<ImageEntry>,
    filters: &ImageFilters,
) -> Result<Vec<ImageEntry>, Error> {
    let mut kept = Vec::new();
    for entry in entries {
        let config = store.image_config(&entry.image)?;
        if filters.takes_labels(&config_labels(&config)) {
            kept.push(entry);
        }
    }
    Ok(kept)
}

/// `config.Labels` of an image config; none when it has none or cannot
/// be read.
pub(super) fn config_labels(config: &[u8]) -> BTreeMap<String, String> {
    let doc: serde_json::Value = serde_json::from_slice(config).unwrap_or_default();
    let Some(map) = doc.pointer("/config/Labels").and_then(|l| l.as_object()) else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
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
    fn labels_come_from_the_config() {
        let labels = config_labels(br#"{"config":{"Labels":{"a":"1","b":""}}}"#);
        assert_eq!(labels.get("a").map(String::as_str), Some("1"));
        assert_eq!(labels.len(), 2);
        assert!(config_labels(b"{}").is_empty());
        assert!(config_labels(b"not json").is_empty());
    }

    #[test]
    fn a_filter_with_a_tag_takes_that_tag() {
        let filter = Reference::parse_name_only("busybox:1").unwrap();
        assert!(wanted(Some(&filter), Some(&name("busybox:1"))));
        assert!(!wanted(Some(&filter), Some(&name("busybox:2"))));
    }
}
