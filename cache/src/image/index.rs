//! Image indexes: the top of an OCI image layout, and multi-platform lists.
//! Names travel as annotations: OCI's `org.opencontainers.image.ref.name`
//! (a tag, or a full reference) and containerd's `io.containerd.image.name`
//! (a full reference), which `docker save` writes since Docker 25.

use std::collections::HashMap;

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use crate::reference::Reference;

use super::json;
use super::manifest::ManifestError;
use super::media_type;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// An index listing `manifests`, each with the annotations naming it.
pub fn build(manifests: Vec<Descriptor>) -> Result<Vec<u8>, ManifestError> {
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(media_type::OCI_INDEX))
        .manifests(manifests)
        .build()
        .map_err(|e| ManifestError::Build(e.to_string()))?;
    json::canonical(&index).map_err(ManifestError::Encode)
}

/// Annotates a manifest descriptor with `name` the way Docker 25 does:
/// the full reference for containerd, the tag alone for OCI tools
/// (skopeo's `oci-archive:file:tag` looks the tag up there).
pub fn named(mut desc: Descriptor, name: &Reference) -> Descriptor {
    let mut annotations = desc.annotations().clone().unwrap_or_default();
    annotations.insert(CONTAINERD_NAME.to_string(), name.to_string());
    if let Some(tag) = name.tag() {
        annotations.insert(REF_NAME.to_string(), tag.to_string());
    }
    desc.set_annotations(Some(annotations));
    desc
}

pub fn parse(bytes: &[u8]) -> Result<ImageIndex, ManifestError> {
    serde_json::from_slice(bytes).map_err(ManifestError::Parse)
}

/// The reference an index entry names, if any. containerd's full name wins;
/// an OCI ref.name that is a whole reference is taken as one, and a bare
/// tag is joined to `default_repo` when the caller has one.
pub fn entry_name(desc: &Descriptor, default_repo: Option<&str>) -> Option<Reference> {
    let annotations: &HashMap<String, String> = desc.annotations().as_ref()?;
    if let Some(full) = annotations.get(CONTAINERD_NAME) {
        if let Ok(r) = Reference::parse_normalized(full) {
            return Some(r);
        }
    }
    let name = annotations.get(REF_NAME)?;
    if name.contains('/') || name.contains(':') {
        return Reference::parse_normalized(name).ok();
    }
    Reference::parse_normalized(&format!("{}:{name}", default_repo?)).ok()
}

/// From a multi-platform list, the entry for this machine (linux and the
/// host architecture), else the only entry.
pub fn pick_platform(index: &ImageIndex) -> Option<&Descriptor> {
    let host = oci_spec::image::Arch::default();
    let manifests = index.manifests();
    manifests
        .iter()
        .find(|d| {
            d.platform()
                .as_ref()
                .is_some_and(|p| *p.architecture() == host && *p.os() == oci_spec::image::Os::Linux)
        })
        .or(if manifests.len() == 1 {
            manifests.first()
        } else {
            None
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::image::manifest::descriptor;

    #[test]
    fn names_roundtrip_through_annotations() {
        let r = Reference::parse_normalized("busybox:1.36").unwrap();
        let desc = descriptor(media_type::OCI_MANIFEST, &Digest::of_bytes(b"m"), 1).unwrap();
        let bytes = build(vec![named(desc, &r)]).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\"io.containerd.image.name\":\"docker.io/library/busybox:1.36\""),
            "{text}"
        );
        assert!(text.contains("\"org.opencontainers.image.ref.name\":\"1.36\""));
        let index = parse(&bytes).unwrap();
        assert_eq!(entry_name(&index.manifests()[0], None), Some(r));
    }

    #[test]
    fn bare_oci_tags_need_a_repository() {
        let mut desc = descriptor(media_type::OCI_MANIFEST, &Digest::of_bytes(b"m"), 1).unwrap();
        desc.set_annotations(Some(HashMap::from([(
            REF_NAME.to_string(),
            "v1".to_string(),
        )])));
        assert_eq!(entry_name(&desc, None), None);
        let named = entry_name(&desc, Some("example.com/app")).unwrap();
        assert_eq!(named.to_string(), "example.com/app:v1");
    }
}
