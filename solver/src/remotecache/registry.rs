//! `type=registry`: the cache as one OCI manifest in a registry, under
//! the `ref` given (`app:buildcache`). Its config is the cache config and
//! its layers the cached layers, so any OCI distribution registry stores
//! it as an ordinary image manifest (BuildKit's `image-manifest=true`
//! form, which registries without index support accept too). Reading
//! such a ref that names a built image instead finds its inline cache.

use std::io::Read;

use kiln_cache::image::index;
use kiln_cache::image::manifest::{descriptor_digest, ManifestError};
use kiln_cache::registry::client::Client;
use kiln_cache::registry::{self, platform, Platform, PushOptions, RegistryConfig, RegistryError};
use kiln_cache::{BlobRef, Digest, ImageRecord, LayerRecord, Reference, Store};

use super::error::RemoteProblem;
use super::import::{load_manifest, BlobSource, Loaded};
use super::CacheError;

fn reg_err(reference: &Reference) -> impl Fn(RegistryError) -> CacheError + '_ {
    move |source| CacheError::Registry {
        name: reference.familiar(),
        source,
    }
}

fn manifest_err(reference: &Reference) -> impl Fn(ManifestError) -> CacheError + '_ {
    move |source| CacheError::RegistryManifest {
        name: reference.familiar(),
        source,
    }
}

fn missing(reference: &Reference, problem: RemoteProblem) -> CacheError {
    CacheError::Remote {
        name: reference.familiar(),
        problem,
    }
}

/// Pushes the cache manifest (and its blobs) to `reference`.
pub fn write(
    store: &Store,
    reference: &Reference,
    config: &RegistryConfig,
    config_ref: &BlobRef,
    manifest_ref: &BlobRef,
    layers: &[LayerRecord],
) -> Result<Digest, CacheError> {
    // Shaped as an image so the registry client's push (existence checks,
    // mounts, chunked uploads, manifest last) does the work.
    let image = ImageRecord {
        manifest: *manifest_ref,
        manifest_media_type: kiln_cache::image::media_type::OCI_MANIFEST.to_string(),
        config: *config_ref,
        layers: layers.to_vec(),
        created: None,
        index: None,
        added: std::time::SystemTime::now(),
        size: 0,
    };
    registry::push(
        store,
        &image,
        reference,
        config,
        &PushOptions::default(),
        &registry::progress::silent,
    )
    .map_err(reg_err(reference))
}

struct Remote {
    client: Client,
    name: String,
}

impl BlobSource for Remote {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn open(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send + '_>, CacheError> {
        let body = self
            .client
            .get_blob(digest)
            .map_err(|source| CacheError::Registry {
                name: self.name.clone(),
                source,
            })?;
        Ok(Box::new(body.take(size)))
    }
}

/// Reads the cache `reference` names: a kiln cache manifest, or an image
/// with an inline cache (an index is resolved to `platform`'s image).
pub fn open(
    reference: &Reference,
    config: &RegistryConfig,
    platform: Option<&Platform>,
) -> Result<Loaded, CacheError> {
    let endpoint = config.endpoint(reference.domain());
    let creds = config.credentials.get(&endpoint.host);
    let client = Client::new(endpoint, reference.path(), creds).map_err(reg_err(reference))?;
    let name = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    let (mut bytes, mut media) = client
        .get_manifest(&name)
        .map_err(reg_err(reference))?
        .ok_or_else(|| missing(reference, RemoteProblem::NotFound))?;
    if kiln_cache::image::media_type::is_index(&media) {
        let idx = index::parse(&bytes).map_err(manifest_err(reference))?;
        let desc = platform::pick(&idx, platform)
            .ok_or_else(|| missing(reference, RemoteProblem::NoPlatform))?;
        let digest = descriptor_digest(desc).map_err(manifest_err(reference))?;
        (bytes, media) = client
            .get_manifest(&digest.to_string())
            .map_err(reg_err(reference))?
            .ok_or_else(|| missing(reference, RemoteProblem::IndexedNotFound))?;
        if Digest::of_bytes(&bytes) != digest {
            return Err(missing(reference, RemoteProblem::ManifestDigest));
        }
    }
    let _ = media;
    let remote = Remote {
        client,
        name: reference.familiar(),
    };
    let config = load_manifest(&bytes, &|d, size| {
        let mut out = Vec::new();
        remote
            .open(d, size)?
            .read_to_end(&mut out)
            .map_err(|source| CacheError::RegistryRead {
                name: reference.familiar(),
                source,
            })?;
        Ok(out)
    })?;
    Ok(Loaded {
        config,
        source: Box::new(remote),
    })
}
