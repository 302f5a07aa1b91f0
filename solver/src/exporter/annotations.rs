//! Annotations of an exported image, where BuildKit lets them go: on the
//! manifest, on the manifest's descriptor in the index, on the index, and
//! on the index's descriptor. buildx spells them `--annotation
//! [TYPE[,TYPE…][PLATFORM]:]KEY=VALUE` and exporters take them as
//! `annotation.KEY=VALUE` (the manifest), `annotation-manifest.KEY`,
//! `annotation-manifest-descriptor.KEY`, `annotation-index.KEY`,
//! `annotation-index-descriptor.KEY`. kiln builds one platform, so a
//! `[PLATFORM]` selector is accepted and the annotation applies to it.

use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnnotationError {
    #[error("annotation {0:?}: expected KEY=VALUE")]
    Syntax(String),
    #[error("annotation {0:?}: unknown type {1:?} (expected manifest, manifest-descriptor, index or index-descriptor)")]
    Type(String, String),
}

/// Where an annotation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Manifest,
    ManifestDescriptor,
    Index,
    IndexDescriptor,
}

impl Place {
    fn parse(word: &str) -> Option<Place> {
        Some(match word {
            "manifest" => Place::Manifest,
            "manifest-descriptor" => Place::ManifestDescriptor,
            "index" => Place::Index,
            "index-descriptor" => Place::IndexDescriptor,
            _ => return None,
        })
    }
}

/// Every annotation of one output, by place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    pub manifest: BTreeMap<String, String>,
    pub manifest_descriptor: BTreeMap<String, String>,
    pub index: BTreeMap<String, String>,
    pub index_descriptor: BTreeMap<String, String>,
}

/// `TYPE[PLATFORM]` with the selector dropped.
fn without_platform(word: &str) -> &str {
    word.split_once('[').map_or(word, |(w, _)| w)
}

impl Annotations {
    pub fn is_empty(&self) -> bool {
        self.manifest.is_empty()
            && self.manifest_descriptor.is_empty()
            && self.index.is_empty()
            && self.index_descriptor.is_empty()
    }

    fn insert(&mut self, place: Place, key: &str, value: &str) {
        let map = match place {
            Place::Manifest => &mut self.manifest,
            Place::ManifestDescriptor => &mut self.manifest_descriptor,
            Place::Index => &mut self.index,
            Place::IndexDescriptor => &mut self.index_descriptor,
        };
        map.insert(key.to_string(), value.to_string());
    }

    /// One `--annotation` flag. Without a type it goes on the manifest,
    /// as buildx puts it.
    pub fn add_flag(&mut self, flag: &str) -> Result<(), AnnotationError> {
        let (key, value) = flag
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| AnnotationError::Syntax(flag.to_string()))?;
        let Some((types, key)) = key.split_once(':') else {
            self.insert(Place::Manifest, key, value);
            return Ok(());
        };
        let places = types
            .split(',')
            .map(|t| {
                Place::parse(without_platform(t))
                    .ok_or_else(|| AnnotationError::Type(flag.to_string(), t.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if key.is_empty() {
            return Err(AnnotationError::Syntax(flag.to_string()));
        }
        for p in places {
            self.insert(p, key, value);
        }
        Ok(())
    }

    /// An `--output` key of the `annotation…` family; `Ok(false)` when
    /// `key` is not one.
    pub fn add_output_key(&mut self, key: &str, value: &str) -> Result<bool, AnnotationError> {
        let Some(rest) = key.strip_prefix("annotation") else {
            return Ok(false);
        };
        let (place, name) = match rest.strip_prefix('.') {
            Some(name) => (Place::Manifest, name),
            None => {
                let rest = rest
                    .strip_prefix('-')
                    .ok_or_else(|| AnnotationError::Syntax(key.to_string()))?;
                let (kind, name) = rest
                    .split_once('.')
                    .ok_or_else(|| AnnotationError::Syntax(key.to_string()))?;
                let place = Place::parse(without_platform(kind))
                    .ok_or_else(|| AnnotationError::Type(key.to_string(), kind.to_string()))?;
                (place, name)
            }
        };
        if name.is_empty() {
            return Err(AnnotationError::Syntax(key.to_string()));
        }
        self.insert(place, name, value);
        Ok(true)
    }

    /// These annotations with `over`'s added (theirs win on a clash).
    pub fn merged(&self, over: &Annotations) -> Annotations {
        let mut out = self.clone();
        out.manifest.extend(over.manifest.clone());
        out.manifest_descriptor
            .extend(over.manifest_descriptor.clone());
        out.index.extend(over.index.clone());
        out.index_descriptor.extend(over.index_descriptor.clone());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_default_to_the_manifest_and_take_types() {
        let mut a = Annotations::default();
        a.add_flag("org.opencontainers.image.source=https://x.invalid/r")
            .unwrap();
        a.add_flag("index,manifest-descriptor:k=v").unwrap();
        a.add_flag("manifest[linux/amd64]:p=1").unwrap();
        assert_eq!(
            a.manifest["org.opencontainers.image.source"],
            "https://x.invalid/r"
        );
        assert_eq!(a.manifest["p"], "1");
        assert_eq!(a.index["k"], "v");
        assert_eq!(a.manifest_descriptor["k"], "v");
        assert!(a.index_descriptor.is_empty());
        assert!(matches!(
            a.add_flag("layer:k=v"),
            Err(AnnotationError::Type(_, _))
        ));
        assert!(a.add_flag("novalue").is_err());
    }

    #[test]
    fn output_keys_follow_buildkit_prefixes() {
        let mut a = Annotations::default();
        assert!(a.add_output_key("annotation.a", "1").unwrap());
        assert!(a.add_output_key("annotation-manifest.b", "2").unwrap());
        assert!(a
            .add_output_key("annotation-manifest-descriptor.c", "3")
            .unwrap());
        assert!(a.add_output_key("annotation-index.d", "4").unwrap());
        assert!(a
            .add_output_key("annotation-index-descriptor.e", "5")
            .unwrap());
        assert!(!a.add_output_key("dest", "x").unwrap());
        assert!(a.add_output_key("annotation-layer.f", "6").is_err());
        assert_eq!(a.manifest.len(), 2);
        assert_eq!(a.manifest_descriptor["c"], "3");
        assert_eq!(a.index["d"], "4");
        assert_eq!(a.index_descriptor["e"], "5");
    }
}
