//! Registry → store. The manifest (chosen from an index by platform) and
//! config are fetched and verified first; then each layer not already in
//! the store streams from the registry through sha256 into a blob under
//! `tmp/` and, in the same pass, through the layer applier into a snapshot
//! staging dir. Only layers whose blob digest and diff_id both check out
//! are kept, staged, and the whole image is made durable at the end with
//! one flush of the store's filesystem before its blobs and snapshots are
//! renamed into place and the image recorded (`staged.rs`): an
//! interrupted pull leaves nothing half-written anywhere visible.

use std::io::{self, Read, Write};

use oci_spec::image::Descriptor;

use crate::blobs::{BlobRef, BlobWriter, StagedBlob};
use crate::digest::Digest;
use crate::image::manifest::{descriptor_digest, layer_compression};
use crate::image::{index, media_type, ConfigBlob, ManifestBlob};
use crate::image_store::{ImageRecord, LayerRecord, NewImage};
use crate::layer;
use crate::reference::Reference;
use crate::snapshot::{NewSnapshot, SnapshotId, StagedSnapshot, StagingDir};
use crate::staged::Staged;
use crate::store::{Store, StoreError};

use super::client::Client;
use super::config::RegistryConfig;
use super::platform::{self, Platform};
use super::progress::{Event, LayerState, Progress};
use super::transfer::TransferError;
use super::{workers, RegistryError};

/// Docker's default max-concurrent-downloads.
const PARALLEL_LAYERS: usize = 3;
/// Report download progress at most this often (bytes).
const REPORT_EVERY: u64 = 256 << 10;
/// Configs larger than this are refused before they are read.
const CONFIG_LIMIT: u64 = 16 << 20;

/// A manifest found on one endpoint, with the index it was picked from.
struct Resolved {
    client: Client,
    manifest: ManifestBlob,
    index: Option<Vec<u8>>,
}

/// A manifest, and the index bytes it was picked from.
type Found = (ManifestBlob, Option<Vec<u8>>);

/// Pulls `reference` into the store and tags it (unless it names a digest,
/// as `docker pull name@sha256:…` leaves the image untagged). `platform`
/// picks from a multi-platform index; `None` means the host's.
///
/// Blocking: call it from a plain thread or tokio's `spawn_blocking`, never
/// on an async task (reqwest's blocking client refuses to run inside a
/// runtime's worker).
pub fn pull(
    store: &Store,
    reference: &Reference,
    config: &RegistryConfig,
    platform: Option<&Platform>,
    progress: Progress<'_>,
) -> Result<ImageRecord, RegistryError> {
    let resolved = resolve(config, reference, platform)?;
    let tags: Vec<Reference> = match reference.digest() {
        Some(_) => Vec::new(),
        None => vec![reference.clone()],
    };
    if let Some(existing) = up_to_date(store, &resolved.manifest.digest)? {
        for tag in &tags {
            store.tag_image(&existing.manifest.digest, tag)?;
        }
        for layer in &existing.layers {
            progress(&Event {
                digest: layer.blob.digest,
                size: layer.blob.size,
                state: LayerState::Exists,
            });
        }
        return Ok(existing);
    }
    fetch_image(store, &resolved, &tags, progress)
}

/// The image, if this manifest is in the store with every layer present.
fn up_to_date(store: &Store, manifest: &Digest) -> Result<Option<ImageRecord>, RegistryError> {
    let Some(entry) = store.image(manifest)? else {
        return Ok(None);
    };
    let complete = entry
        .image
        .layers
        .iter()
        .all(|l| store.snapshot_path(&l.snapshot).is_dir());
    Ok(complete.then_some(entry.image))
}

/// Tries each endpoint (mirrors first) until one has the manifest. A
/// mirror's failure is not the user's: it falls through to the next one.
fn resolve(
    config: &RegistryConfig,
    reference: &Reference,
    platform: Option<&Platform>,
) -> Result<Resolved, RegistryError> {
    let mut last = None;
    for endpoint in config.pull_endpoints(reference.domain()) {
        let creds = config.credentials.get(&endpoint.host);
        let is_mirror = endpoint.is_mirror;
        let client = Client::new(endpoint, reference.path(), creds)?;
        match resolve_on(&client, reference, platform) {
            Ok(Some((manifest, index))) => {
                return Ok(Resolved {
                    client,
                    manifest,
                    index,
                })
            }
            Ok(None) => last = Some(RegistryError::ManifestNotFound(reference.familiar())),
            Err(e) if is_mirror => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| RegistryError::ManifestNotFound(reference.familiar())))
}

fn resolve_on(
    client: &Client,
    reference: &Reference,
    platform: Option<&Platform>,
) -> Result<Option<Found>, RegistryError> {
    let name = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    let Some((bytes, content_type)) = client.get_manifest(&name)? else {
        return Ok(None);
    };
    if let Some(expected) = reference.digest() {
        verify(&bytes, expected, || format!("manifest {expected}"))?;
    }
    if !is_index(&bytes, &content_type) {
        return Ok(Some((ManifestBlob::parse(bytes)?, None)));
    }
    let idx = index::parse(&bytes)?;
    let desc = platform::pick(&idx, platform).ok_or_else(|| RegistryError::NoPlatform {
        reference: reference.familiar(),
        wanted: platform.cloned().unwrap_or_else(platform::host).to_string(),
        available: platform::available(&idx),
    })?;
    let digest = descriptor_digest(desc)?;
    let (manifest, _) = client
        .get_manifest(&digest.to_string())?
        .ok_or_else(|| RegistryError::ManifestNotFound(format!("{}@{digest}", reference.name())))?;
    verify(&manifest, &digest, || format!("manifest {digest}"))?;
    Ok(Some((ManifestBlob::parse(manifest)?, Some(bytes))))
}

/// Registries label indexes by Content-Type; a document with `manifests`
/// and no `layers` is one whatever the label says.
fn is_index(bytes: &[u8], content_type: &str) -> bool {
    if media_type::is_index(content_type) {
        return true;
    }
    let doc: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    doc.get("manifests").is_some() && doc.get("layers").is_none()
}

fn verify(bytes: &[u8], expected: &Digest, what: impl Fn() -> String) -> Result<(), RegistryError> {
    let actual = Digest::of_bytes(bytes);
    if actual != *expected {
        return Err(RegistryError::DigestMismatch {
            what: what(),
            expected: *expected,
            actual,
        });
    }
    Ok(())
}

fn fetch_image(
    store: &Store,
    resolved: &Resolved,
    tags: &[Reference],
    progress: Progress<'_>,
) -> Result<ImageRecord, RegistryError> {
    let manifest = &resolved.manifest;
    let mut staged = Staged::default();
    let (config_blob, config_bytes) = fetch_config(store, &resolved.client, manifest)?;
    let config_ref = staged.add_blob(config_blob);
    let config = ConfigBlob::parse(config_bytes)?;
    let diff_ids = config
        .config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    let layers = manifest.manifest.layers();
    if layers.len() != diff_ids.len() {
        return Err(RegistryError::LayerCount {
            layers: layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    for desc in layers {
        progress(&Event {
            digest: descriptor_digest(desc)?,
            size: desc.size(),
            state: LayerState::Waiting,
        });
    }
    let work: Vec<(&Descriptor, Digest)> = layers.iter().zip(diff_ids).collect();
    let fetched = workers::map(&work, PARALLEL_LAYERS, |i, (desc, diff_id)| {
        fetch_layer(store, &resolved.client, i, desc, diff_id, progress)
    })?;
    let mut records = Vec::with_capacity(fetched.len());
    for (record, layer) in fetched {
        records.push(record);
        staged.extend(layer);
    }
    let manifest_ref =
        staged.add_blob(store.stage_blob_bytes(&manifest.bytes, Some(&manifest.digest))?);
    let index_ref = match &resolved.index {
        Some(bytes) => Some(staged.add_blob(store.stage_blob_bytes(bytes, None)?)),
        None => None,
    };
    let new = NewImage {
        manifest: manifest_ref,
        manifest_media_type: manifest.flavor.manifest().to_string(),
        config: config_ref,
        layers: records,
        created: config.config.created().clone(),
        index: index_ref,
    };
    Ok(store.add_staged_image(staged, new, tags)?)
}

/// The image config, staged, and its bytes. Docker shows layers only; the
/// config downloads silently.
fn fetch_config(
    store: &Store,
    client: &Client,
    manifest: &ManifestBlob,
) -> Result<(StagedBlob, Vec<u8>), RegistryError> {
    let desc = manifest.manifest.config();
    let blob = fetch_blob(store, client, desc, CONFIG_LIMIT, &super::progress::silent)?;
    let bytes = match &blob.tmp {
        Some((path, _)) => std::fs::read(path).map_err(|source| RegistryError::Read {
            digest: blob.blob.digest,
            source,
        })?,
        None => store.read_blob(&blob.blob.digest)?,
    };
    Ok((blob, bytes))
}

/// A layer, staged: nothing to do if both its blob and snapshot are there;
/// unpacked from the stored blob if only the snapshot is missing;
/// downloaded without unpacking if only the blob is; else both at once.
fn fetch_layer(
    store: &Store,
    client: &Client,
    index: usize,
    desc: &Descriptor,
    diff_id: &Digest,
    progress: Progress<'_>,
) -> Result<(LayerRecord, Staged), RegistryError> {
    let digest = descriptor_digest(desc)?;
    layer_compression(desc)?;
    let report = |state| {
        progress(&Event {
            digest,
            size: desc.size(),
            state,
        })
    };
    let have_blob = store.has_blob(&digest)?;
    let have_snapshot = store.snapshot_by_diff_id(diff_id)?;
    let mut staged = Staged::default();
    let snapshot = match (have_blob, have_snapshot) {
        (true, Some(snapshot)) => {
            report(LayerState::Exists);
            return Ok((record(desc, digest, *diff_id, snapshot), staged));
        }
        (true, None) => {
            report(LayerState::Extracting);
            let blob = store.open_blob(&digest)?;
            staged.add_snapshot(unpack(store, blob, index, &digest, diff_id)?)
        }
        (false, Some(snapshot)) => {
            staged.add_blob(fetch_blob(store, client, desc, u64::MAX, progress)?);
            snapshot
        }
        (false, None) => {
            let (blob, snapshot) = stream_layer(store, client, index, desc, diff_id, progress)?;
            staged.add_blob(blob);
            staged.add_snapshot(snapshot)
        }
    };
    report(LayerState::Complete);
    Ok((record(desc, digest, *diff_id, snapshot), staged))
}

fn record(desc: &Descriptor, blob: Digest, diff_id: Digest, snapshot: SnapshotId) -> LayerRecord {
    LayerRecord {
        blob: BlobRef {
            digest: blob,
            size: desc.size(),
        },
        media_type: desc.media_type().to_string(),
        diff_id,
        snapshot,
    }
}

/// Unpacks a stored layer blob into a new snapshot, checking its diff_id.
fn unpack(
    store: &Store,
    blob: impl Read,
    index: usize,
    digest: &Digest,
    diff_id: &Digest,
) -> Result<StagedSnapshot, RegistryError> {
    let staging = store.new_snapshot_staging()?;
    let applied = layer::apply(blob, staging.path()).map_err(|source| RegistryError::Apply {
        digest: *digest,
        source,
    })?;
    check_diff_id(index, diff_id, &applied.diff_id)?;
    stage_snapshot(store, staging, digest, diff_id)
}

fn check_diff_id(index: usize, expected: &Digest, actual: &Digest) -> Result<(), RegistryError> {
    if expected != actual {
        return Err(RegistryError::DiffIdMismatch {
            index,
            expected: *expected,
            actual: *actual,
        });
    }
    Ok(())
}

fn stage_snapshot(
    store: &Store,
    staging: StagingDir,
    digest: &Digest,
    diff_id: &Digest,
) -> Result<StagedSnapshot, RegistryError> {
    let new = NewSnapshot {
        diff_id: Some(*diff_id),
        tar_size: None,
        parent: None,
        created_by: format!("pull layer {digest}"),
    };
    Ok(store.stage_snapshot(staging, new)?)
}

/// Downloads a layer and unpacks it in the same pass. The blob digest is
/// judged first: a tampered or truncated body is reported as such, even
/// when the bytes also failed to unpack.
fn stream_layer(
    store: &Store,
    client: &Client,
    index: usize,
    desc: &Descriptor,
    diff_id: &Digest,
    progress: Progress<'_>,
) -> Result<(StagedBlob, StagedSnapshot), RegistryError> {
    let digest = descriptor_digest(desc)?;
    let body = client.blob_reader(&digest, desc.size())?;
    let mut blob = store.blob_writer()?;
    let staging = store.new_snapshot_staging()?;
    let mut tee = Tee::new(body, &mut blob, desc, digest, progress);
    let applied = layer::apply(&mut tee, staging.path());
    let drained = io::copy(&mut tee, &mut io::sink());
    if let Some(source) = tee.failure.take() {
        return Err(read_error(digest, source));
    }
    drained.map_err(|source| read_error(digest, source))?;
    tee.report_done();
    let blob = stage_verified(blob, &digest, || format!("layer {digest}"))?;
    let applied = applied.map_err(|source| RegistryError::Apply { digest, source })?;
    check_diff_id(index, diff_id, &applied.diff_id)?;
    let snapshot = stage_snapshot(store, staging, &digest, diff_id)?;
    Ok((blob, snapshot))
}

/// A blob, staged without unpacking it (a config, or a layer whose
/// snapshot exists); none to stage when the store has it already.
fn fetch_blob(
    store: &Store,
    client: &Client,
    desc: &Descriptor,
    limit: u64,
    progress: Progress<'_>,
) -> Result<StagedBlob, RegistryError> {
    let digest = descriptor_digest(desc)?;
    if store.has_blob(&digest)? {
        let blob = BlobRef {
            digest,
            size: store.blob_size(&digest)?,
        };
        return Ok(StagedBlob { blob, tmp: None });
    }
    if desc.size() > limit {
        return Err(RegistryError::TooLarge {
            what: format!("blob {digest}"),
            expected: limit,
        });
    }
    let body = client.blob_reader(&digest, desc.size())?;
    let mut blob = store.blob_writer()?;
    let mut tee = Tee::new(body, &mut blob, desc, digest, progress);
    let copied = io::copy(&mut tee, &mut io::sink());
    if let Some(source) = tee.failure.take() {
        return Err(read_error(digest, source));
    }
    copied.map_err(|source| read_error(digest, source))?;
    stage_verified(blob, &digest, || format!("blob {digest}"))
}

/// A transfer that failed after its retries is reported as such.
fn read_error(digest: Digest, source: io::Error) -> RegistryError {
    match TransferError::take_from(source) {
        Ok(transfer) => RegistryError::Transfer(transfer),
        Err(source) => RegistryError::Read { digest, source },
    }
}

fn stage_verified(
    blob: BlobWriter<'_>,
    digest: &Digest,
    what: impl Fn() -> String,
) -> Result<StagedBlob, RegistryError> {
    match blob.stage(Some(digest)) {
        Ok(b) => Ok(b),
        Err(StoreError::DigestMismatch { expected, actual }) => {
            Err(RegistryError::DigestMismatch {
                what: what(),
                expected,
                actual,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Copies every byte read from the network into the blob writer (which
/// hashes it) and reports progress. A network error is remembered, so it
/// is reported as one rather than as the unpacker's "malformed archive".
struct Tee<'t, 's, R> {
    inner: R,
    blob: &'t mut BlobWriter<'s>,
    done: u64,
    reported: u64,
    event: Event,
    progress: Progress<'t>,
    failure: Option<io::Error>,
}

impl<'t, 's, R: Read> Tee<'t, 's, R> {
    fn new(
        inner: R,
        blob: &'t mut BlobWriter<'s>,
        desc: &Descriptor,
        digest: Digest,
        progress: Progress<'t>,
    ) -> Self {
        let event = Event {
            digest,
            size: desc.size(),
            state: LayerState::Downloading { done: 0 },
        };
        progress(&event);
        Tee {
            inner,
            blob,
            done: 0,
            reported: 0,
            event,
            progress,
            failure: None,
        }
    }

    fn report_done(&mut self) {
        if self.reported != self.done {
            self.event.state = LayerState::Downloading { done: self.done };
            (self.progress)(&self.event);
            self.reported = self.done;
        }
    }
}

impl<R: Read> Read for Tee<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                let kind = e.kind();
                let message = e.to_string();
                // The first failure is the cause; later reads only echo it.
                self.failure.get_or_insert(e);
                return Err(io::Error::new(kind, message));
            }
        };
        self.blob.write_all(&buf[..n])?;
        self.done += n as u64;
        if self.done - self.reported >= REPORT_EVERY {
            self.report_done();
        }
        Ok(n)
    }
}
