//! Image manifests (OCI or Docker v2 schema 2: the same JSON shape with
//! other media types) and the descriptors in them.

use std::collections::HashMap;

use oci_spec::image::{
    Descriptor, DescriptorBuilder, ImageManifest, ImageManifestBuilder, MediaType,
};

use crate::digest::Digest;

use super::config::ConfigBlob;
use super::json;
use super::media_type::{self, Flavor};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("invalid manifest or index")]
    Parse(#[source] serde_json::Error),
    #[error("building manifest: {0}")]
    Build(String),
    #[error("encoding manifest")]
    Encode(#[source] serde_json::Error),
    #[error("manifest has unsupported media type {0:?}")]
    MediaType(String),
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),
}

/// A descriptor of a blob: what a manifest or index points at.
pub fn descriptor(
    media_type: &str,
    digest: &Digest,
    size: u64,
) -> Result<Descriptor, ManifestError> {
    DescriptorBuilder::default()
        .media_type(MediaType::from(media_type))
        .digest(oci_spec::image::Digest::from(*digest))
        .size(size)
        .build()
        .map_err(|e| ManifestError::Build(e.to_string()))
}

/// The digest a descriptor names, checked to be a sha256 we can store.
pub fn descriptor_digest(desc: &Descriptor) -> Result<Digest, ManifestError> {
    Ok(Digest::try_from(desc.digest())?)
}

/// A manifest and its exact bytes.
#[derive(Debug, Clone)]
pub struct ManifestBlob {
    pub manifest: ImageManifest,
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub flavor: Flavor,
}

impl ManifestBlob {
    /// Parses bytes read from an archive or the store. A manifest without
    /// `mediaType` is OCI (image-spec makes the field optional).
    pub fn parse(bytes: Vec<u8>) -> Result<ManifestBlob, ManifestError> {
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(ManifestError::Parse)?;
        let flavor = match manifest.media_type() {
            None => Flavor::Oci,
            Some(mt) => Flavor::of_manifest(mt.as_ref())
                .ok_or_else(|| ManifestError::MediaType(mt.to_string()))?,
        };
        Ok(ManifestBlob {
            digest: Digest::of_bytes(&bytes),
            manifest,
            bytes,
            flavor,
        })
    }

    /// A manifest for `config` and `layers` (descriptors in order, bottom
    /// first), in the flavor asked for.
    pub fn build(
        flavor: Flavor,
        config: &ConfigBlob,
        layers: Vec<Descriptor>,
        annotations: Option<HashMap<String, String>>,
    ) -> Result<ManifestBlob, ManifestError> {
        let config_desc = descriptor(flavor.config(), &config.digest, config.bytes.len() as u64)?;
        let mut builder = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::from(flavor.manifest()))
            .config(config_desc)
            .layers(layers);
        if let Some(annotations) = annotations.filter(|a| !a.is_empty()) {
            builder = builder.annotations(annotations);
        }
        let manifest = builder
            .build()
            .map_err(|e| ManifestError::Build(e.to_string()))?;
        let bytes = json::canonical(&manifest).map_err(ManifestError::Encode)?;
        Ok(ManifestBlob {
            digest: Digest::of_bytes(&bytes),
            manifest,
            bytes,
            flavor,
        })
    }

    pub fn config_digest(&self) -> Result<Digest, ManifestError> {
        descriptor_digest(self.manifest.config())
    }

    /// This manifest's descriptor, for an index.
    pub fn descriptor(&self) -> Result<Descriptor, ManifestError> {
        descriptor(
            self.flavor.manifest(),
            &self.digest,
            self.bytes.len() as u64,
        )
    }
}

/// The compression a layer descriptor declares; unknown types are refused
/// (kiln must not apply something it cannot read as a tar).
pub fn layer_compression(
    desc: &Descriptor,
) -> Result<crate::compression::Compression, ManifestError> {
    let mt = desc.media_type().to_string();
    media_type::layer_compression(&mt).ok_or(ManifestError::MediaType(mt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::Compression;

    fn config() -> ConfigBlob {
        ConfigBlob::parse(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
                .to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn docker_manifests_use_docker_media_types_and_parse_back() {
        let layer = descriptor(
            Flavor::Docker.layer(Compression::None),
            &Digest::of_bytes(b"l"),
            1,
        )
        .unwrap();
        let m = ManifestBlob::build(Flavor::Docker, &config(), vec![layer], None).unwrap();
        let text = String::from_utf8(m.bytes.clone()).unwrap();
        assert!(text.contains(media_type::DOCKER_MANIFEST));
        assert!(text.contains(media_type::DOCKER_CONFIG));
        assert!(text.contains(media_type::DOCKER_LAYER));
        let back = ManifestBlob::parse(m.bytes.clone()).unwrap();
        assert_eq!((back.flavor, back.digest), (Flavor::Docker, m.digest));
        assert_eq!(back.config_digest().unwrap(), config().digest);
        assert_eq!(
            layer_compression(&back.manifest.layers()[0]).unwrap(),
            Compression::None
        );
    }

    #[test]
    fn unknown_manifest_types_are_refused() {
        let raw = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert!(matches!(
            ManifestBlob::parse(raw.to_vec()),
            Err(ManifestError::MediaType(_))
        ));
    }
}
