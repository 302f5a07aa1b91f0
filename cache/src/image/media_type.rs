//! Media types of the two manifest families kiln reads and writes: OCI
//! (image-spec v1.1) and Docker's v2 schema 2, which `docker save` archives
//! and older registries still use.

use crate::compression::Compression;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Which family a manifest belongs to; its config and layers use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Oci,
    Docker,
}

impl Flavor {
    pub fn manifest(self) -> &'static str {
        match self {
            Flavor::Oci => OCI_MANIFEST,
            Flavor::Docker => DOCKER_MANIFEST,
        }
    }

    pub fn config(self) -> &'static str {
        match self {
            Flavor::Oci => OCI_CONFIG,
            Flavor::Docker => DOCKER_CONFIG,
        }
    }

    pub fn layer(self, compression: Compression) -> &'static str {
        match (self, compression) {
            (Flavor::Oci, Compression::None) => OCI_LAYER,
            (Flavor::Oci, Compression::Gzip) => OCI_LAYER_GZIP,
            (Flavor::Oci, Compression::Zstd) => OCI_LAYER_ZSTD,
            (Flavor::Docker, Compression::None) => DOCKER_LAYER,
            (Flavor::Docker, Compression::Gzip) => DOCKER_LAYER_GZIP,
            (Flavor::Docker, Compression::Zstd) => DOCKER_LAYER_ZSTD,
        }
    }

    /// The flavor of a manifest media type, if it is a single-image one.
    pub fn of_manifest(media_type: &str) -> Option<Flavor> {
        match media_type {
            OCI_MANIFEST => Some(Flavor::Oci),
            DOCKER_MANIFEST => Some(Flavor::Docker),
            _ => None,
        }
    }
}

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The compression a layer media type declares (None: not a layer type).
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        OCI_LAYER | DOCKER_LAYER | "application/vnd.oci.image.layer.nondistributable.v1.tar" => {
            Some(Compression::None)
        }
        OCI_LAYER_GZIP
        | DOCKER_LAYER_GZIP
        | DOCKER_FOREIGN_LAYER
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => Some(Compression::Gzip),
        OCI_LAYER_ZSTD
        | DOCKER_LAYER_ZSTD
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_types_roundtrip_through_compression() {
        for flavor in [Flavor::Oci, Flavor::Docker] {
            for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
                assert_eq!(layer_compression(flavor.layer(c)), Some(c));
            }
            assert_eq!(Flavor::of_manifest(flavor.manifest()), Some(flavor));
        }
        assert!(is_index(DOCKER_MANIFEST_LIST) && !is_index(OCI_MANIFEST));
    }
}
