//! `type=registry`: the cache as one OCI manifest in a registry, under
//! the `ref` given (`app:buildcache`). Its config is the cache config and
//! its layers the cached layers, so any OCI distribution registry stores
//! it as an ordinary image manifest (BuildKit's `image-manifest=true`
//! form, which registries without index support accept too). Reading
//! such a ref that names a built image instead finds its inline cache.

use std::io::Read;

use kiln_cache::image::{index, manifest::descriptor_digest};
use kiln_cache::registry::client::Client;
use kiln_cache::registry::{self, platform, Platform, PushOptions, RegistryConfig};
use kiln_cache::{BlobRef, Digest, ImageRecord, LayerRecord, Reference, Store};

use super::import::{load_manifest, BlobSource, Loaded};
use crate::BuildError;

fn reg_err(reference: &Reference, e: impl std::fmt::Display) -> BuildError {
    BuildError::Output(format!("cache {}: {e}", reference.familiar()))
}

/// Pushes the cache manifest (and its blobs) to `reference`.
pub fn write(
    store: &Store,
    reference: &Reference,
    config: &RegistryConfig,
    config_ref: &BlobRef,
    manifest_ref: &BlobRef,
    layers: &[LayerRecord],
) -> Result<Digest, BuildError> {
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
    .map_err(|e| reg_err(reference, e))
}

struct Remote {
    client: Client,
    name: String,
}

impl BlobSource for Remote {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn open(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send + '_>, BuildError> {
        let body = self
            .client
            .get_blob(digest)
            .map_err(|e| BuildError::Output(format!("cache {}: {e}", self.name)))?;
        Ok(Box::new(body.take(size)))
    }
}

/// Reads the cache `reference` names: a kiln cache manifest, or an image
/// with an inline cache (an index is resolved to `platform`'s image).
pub fn open(
    reference: &Reference,
    config: &RegistryConfig,
    platform: Option<&Platform>,
) -> Result<Loaded, BuildError> {
    let endpoint = config.endpoint(reference.domain());
    let creds = config.credentials.get(&endpoint.host);
    let client =
        Client::new(endpoint, reference.path(), creds).map_err(|e| reg_err(reference, e))?;
    let name = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    let (mut bytes, mut media) = client
        .get_manifest(&name)
        .map_err(|e| reg_err(reference, e))?
        .ok_or_else(|| reg_err(reference, "not found"))?;
    if kiln_cache::image::media_type::is_index(&media) {
        let idx = index::parse(&bytes).map_err(|e| reg_err(reference, e))?;
        let desc = platform::pick(&idx, platform)
            .ok_or_else(|| reg_err(reference, "no manifest for this platform"))?;
        let digest = descriptor_digest(desc).map_err(|e| reg_err(reference, e))?;
        (bytes, media) = client
            .get_manifest(&digest.to_string())
            .map_err(|e| reg_err(reference, e))?
            .ok_or_else(|| reg_err(reference, "manifest in its index not found"))?;
        if Digest::of_bytes(&bytes) != digest {
            return Err(reg_err(reference, "manifest does not match its digest"));
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
            .map_err(|e| reg_err(reference, e))?;
        Ok(out)
    })?;
    Ok(Loaded {
        config,
        source: Box::new(remote),
    })
}
