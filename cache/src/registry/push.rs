//! Store → registry, as `docker push`: each blob is checked with HEAD and
//! skipped if the registry has it; otherwise mounted from another
//! repository on the same registry that this store knows holds it (an
//! image pulled from or pushed to there), or uploaded: in one PUT when
//! small, in PATCH chunks when large. The manifest goes last, under the
//! tag, so the tag never points at an image with missing blobs.

use std::fs::File;
use std::sync::Arc;

use reqwest::Url;

use crate::blobs::BlobRef;
use crate::digest::Digest;
use crate::image_store::{ImageRecord, LayerRecord};
use crate::reference::Reference;
use crate::store::Store;

use super::client::{Client, Mount};
use super::config::RegistryConfig;
use super::progress::{Event, LayerState, Progress};
use super::upload_body::FileRange;
use super::{workers, RegistryError};

/// Docker's default max-concurrent-uploads is 5; kiln's machines are small.
const PARALLEL_BLOBS: usize = 3;

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs up to this size go in one request; larger ones in chunks of
    /// this size (some registries limit a request's body).
    pub chunk_size: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            chunk_size: 32 << 20,
        }
    }
}

/// Pushes `image` to `target` (a tag, or a digest); returns the manifest
/// digest. Blocking, like [`super::pull`].
pub fn push(
    store: &Store,
    image: &ImageRecord,
    target: &Reference,
    config: &RegistryConfig,
    opts: &PushOptions,
    progress: Progress<'_>,
) -> Result<Digest, RegistryError> {
    let endpoint = config.endpoint(target.domain());
    let creds = config.credentials.get(&endpoint.host);
    let client = Client::new(endpoint, target.path(), creds)?;
    // Docker shows layers only; the config uploads silently.
    let progress = &|e: &Event| {
        if e.digest != image.config.digest {
            progress(e)
        }
    };
    let mut blobs: Vec<(BlobRef, Option<&LayerRecord>)> =
        image.layers.iter().map(|l| (l.blob, Some(l))).collect();
    blobs.push((image.config, None));
    for (b, _) in &blobs {
        progress(&Event {
            digest: b.digest,
            size: b.size,
            state: LayerState::Waiting,
        });
    }
    let sources = mount_sources(store, target)?;
    workers::map(&blobs, PARALLEL_BLOBS, |_, (blob, layer)| {
        push_blob(store, &client, blob, *layer, &sources, opts, progress)
    })?;
    let manifest = store.read_blob(&image.manifest.digest)?;
    let name = match (target.tag(), target.digest()) {
        (Some(tag), _) => tag.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".to_string(),
    };
    let reported = client.put_manifest(&name, &image.manifest_media_type, &manifest)?;
    let digest = image.manifest.digest;
    if let Some(reported) = reported.filter(|r| *r != digest) {
        return Err(RegistryError::DigestMismatch {
            what: format!("manifest pushed to {target}"),
            expected: digest,
            actual: reported,
        });
    }
    Ok(digest)
}

/// Other repositories on the target's registry, with the blobs their
/// images in this store hold: candidates for a cross-repository mount.
fn mount_sources(
    store: &Store,
    target: &Reference,
) -> Result<Vec<(String, Vec<Digest>)>, RegistryError> {
    let mut out: Vec<(String, Vec<Digest>)> = Vec::new();
    for entry in store.images()? {
        let mut blobs: Vec<Digest> = entry.image.layers.iter().map(|l| l.blob.digest).collect();
        blobs.push(entry.image.config.digest);
        for r in &entry.refs {
            if r.domain() == target.domain() && r.path() != target.path() {
                out.push((r.path().to_string(), blobs.clone()));
            }
        }
    }
    Ok(out)
}

fn push_blob(
    store: &Store,
    client: &Client,
    blob: &BlobRef,
    layer: Option<&LayerRecord>,
    sources: &[(String, Vec<Digest>)],
    opts: &PushOptions,
    progress: Progress<'_>,
) -> Result<(), RegistryError> {
    let report = |state| {
        progress(&Event {
            digest: blob.digest,
            size: blob.size,
            state,
        })
    };
    if client.blob_exists(&blob.digest)? {
        report(LayerState::Exists);
        return Ok(());
    }
    let mut location = None;
    for (repo, _) in sources.iter().filter(|(_, d)| d.contains(&blob.digest)) {
        // A refused mount is not an error: the blob is uploaded instead.
        match client.mount_blob(&blob.digest, repo) {
            Ok(Mount::Mounted) => {
                report(LayerState::Mounted { from: repo.clone() });
                return Ok(());
            }
            Ok(Mount::Upload(url)) => {
                location = Some(url);
                break;
            }
            Err(_) => continue,
        }
    }
    let location = match location {
        Some(l) => l,
        None => client.start_upload()?,
    };
    // A layer kiln made may have only its snapshot: its blob is written
    // now, as the upload reads ranges of a file.
    let file = match layer {
        Some(l) => store.open_layer(l)?,
        None => store.open_blob(&blob.digest)?,
    };
    upload(file, client, blob, location, opts, &report)?;
    report(LayerState::Pushed);
    Ok(())
}

/// Sends the blob from its file, a range at a time: memory stays a few
/// small buffers per upload, whatever the blob's size.
fn upload(
    file: File,
    client: &Client,
    blob: &BlobRef,
    mut location: Url,
    opts: &PushOptions,
    report: &dyn Fn(LayerState),
) -> Result<(), RegistryError> {
    let file = Arc::new(file);
    let chunk_size = opts.chunk_size.max(1);
    if blob.size <= chunk_size {
        let whole = FileRange::new(file, 0, blob.size);
        return client.finish_upload(&location, &blob.digest, Some(&whole));
    }
    let mut offset = 0u64;
    while offset < blob.size {
        let chunk = FileRange::new(
            Arc::clone(&file),
            offset,
            chunk_size.min(blob.size - offset),
        );
        location = client.upload_chunk(&location, offset, &chunk)?;
        offset += chunk.len();
        report(LayerState::Uploading { done: offset });
    }
    client.finish_upload(&location, &blob.digest, None)
}
