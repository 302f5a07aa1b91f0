//! Images in the store: refs (`docker.io/library/busybox:latest` → manifest
//! digest) and image records (manifest digest → config, layers and their
//! snapshots). The formats themselves (manifest and config JSON, archives)
//! are `image/` and `archive/`; this module only keeps the bookkeeping
//! that makes an image findable and keeps its content alive.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::blobs::BlobRef;
use crate::crashpoint::crash_point;
use crate::digest::Digest;
use crate::gc;
use crate::hold::Holds;
use crate::lock::Leased;
use crate::meta::{self, MetaError, IMAGES, REFS};
use crate::record::{self, put_record, NewRecord, RecordKind};
use crate::reference::Reference;
use crate::snapshot::{snapshot_in, SnapshotId, SnapshotInfo};
use crate::store::{Session, Store, StoreError};

/// One layer of an image: the blob the manifest names and the snapshot it
/// was unpacked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The (possibly compressed) layer blob, as in the manifest.
    pub blob: BlobRef,
    pub media_type: String,
    /// sha256 of the uncompressed tar, as in the config's `rootfs`.
    pub diff_id: Digest,
    pub snapshot: SnapshotId,
}

impl LayerRecord {
    /// A layer whose blob is its uncompressed tar, named by its diff_id:
    /// what kiln makes of a snapshot.
    pub fn uncompressed(blob: BlobRef, snapshot: SnapshotId) -> LayerRecord {
        LayerRecord {
            blob,
            media_type: crate::image::Flavor::Oci
                .layer(crate::compression::Compression::None)
                .to_string(),
            diff_id: blob.digest,
            snapshot,
        }
    }

    /// Whether the layer's blob is kiln's tar of `snapshot`, which kiln
    /// hashed ([`SnapshotInfo::hashed_layer`]): the blob need not be on
    /// disk, it is made from the directory when read. A pulled or loaded
    /// snapshot names its diff_id too, but its tar was another's, which
    /// kiln's own need not reproduce: its blob must be on disk.
    pub fn is_made_from(&self, snapshot: &SnapshotInfo) -> bool {
        self.blob.digest == self.diff_id
            && snapshot.id == self.snapshot
            && snapshot.hashed_layer() == Some(self.blob)
    }
}

/// What a caller adding an image supplies. Every blob and snapshot named
/// must already be in the store.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub manifest: BlobRef,
    pub manifest_media_type: String,
    pub config: BlobRef,
    /// Bottom layer first, as in the manifest.
    pub layers: Vec<LayerRecord>,
    /// The config's `created`, RFC 3339, if any.
    pub created: Option<String>,
    /// The index the manifest was chosen from, when one came with it.
    pub index: Option<BlobRef>,
}

/// An image as stored. Its ID (what `kiln images` prints) is
/// `config.digest`, as Docker's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub manifest: BlobRef,
    pub manifest_media_type: String,
    pub config: BlobRef,
    pub layers: Vec<LayerRecord>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub index: Option<BlobRef>,
    /// When it entered this store.
    pub added: SystemTime,
    /// Unpacked size: the sum of its layers' snapshot sizes (Docker's SIZE).
    pub size: u64,
}

impl ImageRecord {
    /// Docker's image ID: the config digest.
    pub fn id(&self) -> &Digest {
        &self.config.digest
    }

    /// Every blob the image needs: manifest, config, index, layers.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        self.blobs_on_disk(|_| false)
    }

    /// The blobs the store keeps as files: all of [`ImageRecord::blobs`]
    /// but those of the layers `made` says are made from their snapshot
    /// when read.
    pub fn blobs_on_disk<'a>(
        &'a self,
        made: impl Fn(&LayerRecord) -> bool + 'a,
    ) -> impl Iterator<Item = &'a BlobRef> + 'a {
        [
            Some(&self.manifest),
            Some(&self.config),
            self.index.as_ref(),
        ]
        .into_iter()
        .flatten()
        .chain(
            self.layers
                .iter()
                .filter(move |l| !made(l))
                .map(|l| &l.blob),
        )
    }
}

/// An image with the refs that point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    pub image: ImageRecord,
    pub refs: Vec<Reference>,
}

impl Store {
    /// Records an image and points `tags` at it (moving them from another
    /// image if they pointed elsewhere, as `docker tag` does). Each layer
    /// snapshot with no cache record gets one of kind `source.image`, so
    /// the layers stay in the build cache after the image is removed.
    pub fn add_image(&self, new: NewImage, tags: &[Reference]) -> Result<ImageRecord, StoreError> {
        if let Some(image) = self.unchanged_image(&new, tags)? {
            return Ok(image);
        }
        let mut session = self.write_session()?;
        add_image_in(&mut session, new, tags)
    }

    /// The stored image when adding `new` with `tags` would change nothing,
    /// as after a fully cached rebuild: then no write session is opened,
    /// and meta.db is neither rewritten nor flushed (a writable open alone
    /// costs redb two fdatasyncs, its close two more).
    fn unchanged_image(
        &self,
        new: &NewImage,
        tags: &[Reference],
    ) -> Result<Option<ImageRecord>, StoreError> {
        let mut session = self.session()?;
        let Some(image) = image_in(&mut session, &new.manifest.digest)? else {
            return Ok(None);
        };
        let same = image.manifest_media_type == new.manifest_media_type
            && image.config == new.config
            && image.layers == new.layers
            && image.created == new.created
            && image.index == new.index;
        if !same {
            return Ok(None);
        }
        let key = new.manifest.digest.to_string();
        {
            let tx = session.read()?;
            let refs = tx.open_table(REFS).map_err(MetaError::from)?;
            for tag in tags {
                let at = refs
                    .get(tag.to_string().as_str())
                    .map_err(MetaError::from)?;
                if at.is_none_or(|v| v.value() != key) {
                    return Ok(None);
                }
            }
        }
        let owners = record::snapshot_owners(&mut session)?;
        let owned = |l: &LayerRecord| owners.contains_key(&l.snapshot.to_string());
        Ok(image.layers.iter().all(owned).then_some(image))
    }

    /// Points `reference` at the image with this manifest; returns the
    /// manifest it pointed at before, if any.
    pub fn tag_image(
        &self,
        manifest: &Digest,
        reference: &Reference,
    ) -> Result<Option<Digest>, StoreError> {
        let mut session = self.write_session()?;
        if image_in(&mut session, manifest)?.is_none() {
            return Err(StoreError::ImageNotFound(manifest.to_string()));
        }
        let tx = session.write()?;
        let previous = {
            let mut refs = tx.open_table(REFS).map_err(MetaError::from)?;
            let old = refs
                .insert(
                    reference.to_string().as_str(),
                    manifest.to_string().as_str(),
                )
                .map_err(MetaError::from)?;
            old.and_then(|v| Digest::parse(v.value()).ok())
        };
        tx.commit().map_err(MetaError::from)?;
        Ok(previous)
    }

    /// Removes a ref; returns the manifest it pointed at. The image itself
    /// stays (untagged) until [`Store::remove_image`].
    pub fn untag(&self, reference: &Reference) -> Result<Option<Digest>, StoreError> {
        let mut session = self.write_session()?;
        let tx = session.write()?;
        let previous = {
            let mut refs = tx.open_table(REFS).map_err(MetaError::from)?;
            let old = refs
                .remove(reference.to_string().as_str())
                .map_err(MetaError::from)?;
            old.and_then(|v| Digest::parse(v.value()).ok())
        };
        tx.commit().map_err(MetaError::from)?;
        Ok(previous)
    }

    /// Removes an image record and every ref to it, then frees the blobs
    /// nothing else needs. Its layer snapshots stay as build cache (their
    /// `source.image` records) until `cache prune`.
    /// Refused when a hold (a container) was made from the image: checked
    /// under the store lock, with what `holds` says then.
    pub fn remove_image(
        &self,
        manifest: &Digest,
        holds: &dyn Holds,
    ) -> Result<RemovedImage, StoreError> {
        let mut session = self.write_session()?;
        let key = manifest.to_string();
        let held = holds.holds()?;
        if let Some(image) = image_in(&mut session, manifest)? {
            if let Some(h) = held.iter().find(|h| h.image.as_ref() == Some(image.id())) {
                return Err(StoreError::ImageInUse {
                    image: image.id().short(),
                    holder: h.holder.clone(),
                });
            }
        }
        let tx = session.write()?;
        let (image, refs) = {
            let mut images = tx.open_table(IMAGES).map_err(MetaError::from)?;
            let old = images.remove(key.as_str()).map_err(MetaError::from)?;
            let image: ImageRecord = match old {
                Some(v) => meta::decode("images", &key, v.value())?,
                None => return Err(StoreError::ImageNotFound(key)),
            };
            let mut refs = tx.open_table(REFS).map_err(MetaError::from)?;
            let pointing: Vec<String> = meta::all_str(&refs)?
                .into_iter()
                .filter(|(_, target)| *target == key)
                .map(|(name, _)| name)
                .collect();
            for name in &pointing {
                refs.remove(name.as_str()).map_err(MetaError::from)?;
            }
            let refs = pointing
                .iter()
                .filter_map(|n| Reference::parse_normalized(n).ok())
                .collect();
            (image, refs)
        };
        tx.commit().map_err(MetaError::from)?;
        let swept = gc::collect_in(&mut session, holds)?;
        drop(session);
        let reclaimed = gc::empty_trash(&swept);
        Ok(RemovedImage {
            image,
            refs,
            reclaimed,
        })
    }

    /// Every image, with its refs (sorted by name).
    pub fn images(&self) -> Result<Vec<ImageEntry>, StoreError> {
        let mut session = self.session()?;
        all_images(&mut session)
    }

    /// The image with this manifest digest.
    pub fn image(&self, manifest: &Digest) -> Result<Option<ImageEntry>, StoreError> {
        Ok(self
            .images()?
            .into_iter()
            .find(|e| e.image.manifest.digest == *manifest))
    }

    /// Finds the image a user means: a name (`busybox`, `busybox:1.36`,
    /// `ghcr.io/x/y@sha256:…`), a full image ID or manifest digest, or an ID
    /// prefix (`1a2b3c4d5e6f`, `sha256:1a2b`), as `docker run` accepts.
    ///
    /// The image's snapshots and blobs are leased to this process before
    /// the store lock is released: a build on it, or a container being
    /// created from it, keeps them even if the image is removed meanwhile.
    pub fn resolve_image(&self, user_ref: &str) -> Result<ImageEntry, StoreError> {
        let mut session = self.session()?;
        let found = resolve_in(all_images(&mut session)?, user_ref)?;
        let image = &found.image;
        let blobs = image.blobs().map(|b| Leased::Blob(b.digest));
        let snapshots = image
            .layers
            .iter()
            .map(|l| Leased::Snapshot(l.snapshot.as_str().to_string()));
        self.lease()?.add_all(blobs.chain(snapshots))?;
        drop(session);
        Ok(found)
    }

    /// [`Store::resolve_image`] without the lease: for removing the image,
    /// which a lease of this process would keep on disk.
    pub fn find_image(&self, user_ref: &str) -> Result<ImageEntry, StoreError> {
        resolve_in(self.images()?, user_ref)
    }

    /// The image's layer directories, bottom layer first: what the runtime
    /// stacks as overlay lowers (it reverses them for `lowerdir=`).
    pub fn image_layer_dirs(&self, image: &ImageRecord) -> Vec<PathBuf> {
        image
            .layers
            .iter()
            .map(|l| self.snapshot_path(&l.snapshot))
            .collect()
    }

    /// The image's config JSON, verified against its digest.
    pub fn image_config(&self, image: &ImageRecord) -> Result<Vec<u8>, StoreError> {
        self.read_blob(&image.config.digest)
    }
}

/// What [`Store::remove_image`] removed.
#[derive(Debug, Clone)]
pub struct RemovedImage {
    pub image: ImageRecord,
    pub refs: Vec<Reference>,
    /// Bytes freed now (blobs only image needed).
    pub reclaimed: u64,
}

/// The image a user means among `images`.
fn resolve_in(images: Vec<ImageEntry>, user_ref: &str) -> Result<ImageEntry, StoreError> {
    let not_found = || StoreError::ImageNotFound(user_ref.to_string());
    if let Ok(d) = Digest::parse(user_ref) {
        return images
            .into_iter()
            .find(|e| e.image.config.digest == d || e.image.manifest.digest == d)
            .ok_or_else(not_found);
    }
    if let Ok(r) = Reference::parse_normalized(user_ref) {
        let by_ref = images.iter().find(|e| {
            e.refs.contains(&r)
                || (r.digest() == Some(&e.image.manifest.digest) && r.tag().is_none())
        });
        if let Some(found) = by_ref {
            return Ok(found.clone());
        }
    }
    find_by_id_prefix(images, user_ref)?.ok_or_else(not_found)
}

fn find_by_id_prefix(
    images: Vec<ImageEntry>,
    user_ref: &str,
) -> Result<Option<ImageEntry>, StoreError> {
    let prefix = user_ref.strip_prefix("sha256:").unwrap_or(user_ref);
    let hexish = !prefix.is_empty()
        && prefix.len() <= 64
        && prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hexish {
        return Ok(None);
    }
    let mut matches = images
        .into_iter()
        .filter(|e| e.image.config.digest.hex().starts_with(prefix));
    let first = matches.next();
    // Several manifests of one config are one image ID: not ambiguous.
    if let Some(f) = &first {
        if matches.any(|e| e.image.config.digest != f.image.config.digest) {
            return Err(StoreError::AmbiguousImage(user_ref.to_string()));
        }
    }
    Ok(first)
}

pub(crate) fn image_in(
    session: &mut Session<'_>,
    manifest: &Digest,
) -> Result<Option<ImageRecord>, StoreError> {
    let tx = session.read()?;
    let table = tx.open_table(IMAGES).map_err(MetaError::from)?;
    Ok(meta::get_json(&table, "images", &manifest.to_string())?)
}

pub(crate) fn all_images(session: &mut Session<'_>) -> Result<Vec<ImageEntry>, StoreError> {
    let tx = session.read()?;
    let images = tx.open_table(IMAGES).map_err(MetaError::from)?;
    let refs = tx.open_table(REFS).map_err(MetaError::from)?;
    let mut by_manifest: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
    for (name, target) in meta::all_str(&refs)? {
        if let Ok(r) = Reference::parse_normalized(&name) {
            by_manifest.entry(target).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for (key, image) in meta::all_json::<ImageRecord, _>(&images, "images")? {
        let Ok(image) = image else { continue };
        let mut refs = by_manifest.remove(&key).unwrap_or_default();
        refs.sort();
        out.push(ImageEntry { image, refs });
    }
    Ok(out)
}

/// `source.image` records for the layer snapshots that have none, each
/// pointing at the record of the layer below.
fn layer_records_needed(
    session: &mut Session<'_>,
    image: &ImageRecord,
) -> Result<Vec<record::CacheRecord>, StoreError> {
    let mut by_snapshot = record::snapshot_owners(session)?;
    let mut new_records = Vec::new();
    let mut parent: Option<String> = None;
    let mut seen = HashSet::new();
    for (i, layer) in image.layers.iter().enumerate() {
        let snap = layer.snapshot.to_string();
        if !seen.insert(snap.clone()) {
            continue;
        }
        let id = match by_snapshot.get(&snap) {
            Some(id) => id.clone(),
            None => {
                let description = snapshot_in(session, &layer.snapshot)?
                    .map(|s| s.created_by)
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| format!("layer {} of image {}", i + 1, image.id().short()));
                let mut r = record::new_record_in(
                    session,
                    NewRecord {
                        cache_key: None,
                        parent: None,
                        snapshot: Some(layer.snapshot.clone()),
                        ingredients: Vec::new(),
                        description,
                        kind: RecordKind::SourceImage,
                    },
                )?;
                // The parent record may be new in this same batch.
                r.parent = parent.clone();
                by_snapshot.insert(snap, r.id.clone());
                let id = r.id.clone();
                new_records.push(r);
                id
            }
        };
        parent = Some(id);
    }
    Ok(new_records)
}

/// Records an image in `session` (see [`Store::add_image`]): every blob
/// and snapshot it names must be there.
pub(crate) fn add_image_in(
    session: &mut Session<'_>,
    new: NewImage,
    tags: &[Reference],
) -> Result<ImageRecord, StoreError> {
    let mut size = 0;
    let mut layer_blobs = Vec::new();
    for layer in &new.layers {
        let info = snapshot_in(session, &layer.snapshot)?.ok_or_else(|| {
            StoreError::MissingDependency {
                what: format!("image {}", new.manifest.digest),
                missing: format!("snapshot {}", layer.snapshot),
            }
        })?;
        size += info.size;
        // A layer kiln tarred and hashed has its blob made from its
        // snapshot when something reads it (`layer_blob.rs`).
        if !layer.is_made_from(&info) {
            layer_blobs.push(&layer.blob);
        }
    }
    let blobs = [Some(&new.manifest), Some(&new.config), new.index.as_ref()];
    for blob in blobs.into_iter().flatten().chain(layer_blobs) {
        if !session.store.blob_path(&blob.digest).is_file() {
            return Err(StoreError::MissingDependency {
                what: format!("image {}", new.manifest.digest),
                missing: format!("blob {}", blob.digest),
            });
        }
    }
    let image = ImageRecord {
        manifest: new.manifest,
        manifest_media_type: new.manifest_media_type,
        config: new.config,
        layers: new.layers,
        created: new.created,
        index: new.index,
        added: SystemTime::now(),
        size,
    };
    let layer_records = layer_records_needed(session, &image)?;
    crash_point("image-before-commit");
    let tx = session.write()?;
    {
        let mut images = tx.open_table(IMAGES).map_err(MetaError::from)?;
        let key = image.manifest.digest.to_string();
        images
            .insert(key.as_str(), meta::encode(&image)?.as_slice())
            .map_err(MetaError::from)?;
        let mut refs = tx.open_table(REFS).map_err(MetaError::from)?;
        for tag in tags {
            refs.insert(tag.to_string().as_str(), key.as_str())
                .map_err(MetaError::from)?;
        }
        for r in &layer_records {
            put_record(&tx, r)?;
        }
    }
    tx.commit().map_err(MetaError::from)?;
    Ok(image)
}
