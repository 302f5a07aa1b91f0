//! `docker save` archives. Written as Docker 25 writes them: every file
//! under blobs/sha256/, uncompressed layers, manifest.json and repositories
//! for the classic readers, and index.json + oci-layout over a Docker v2
//! schema 2 manifest for OCI readers. Read: manifest.json with any member
//! paths (the classic `<id>/layer.tar` layout too).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::compression::{self, Compression};
use crate::digest::Digest;
use crate::image::manifest::descriptor;
use crate::image::{index, ConfigBlob, Flavor, ManifestBlob};
use crate::image_store::ImageRecord;
use crate::reference::Reference;
use crate::store::Store;

use super::load::Candidate;
use super::staged::{Staged, StagedFile};
use super::tar_out::TarOut;
use super::{io_err, variant, ArchiveError};

/// One entry of manifest.json.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

pub(crate) fn candidates(staged: &Staged) -> Result<Vec<Candidate>, ArchiveError> {
    let entries: Vec<Entry> =
        serde_json::from_slice(staged.json_bytes("manifest.json")?).map_err(|e| {
            ArchiveError::Invalid {
                what: "manifest.json".to_string(),
                detail: e.to_string(),
            }
        })?;
    entries.iter().map(|e| candidate(staged, e)).collect()
}

fn candidate(staged: &Staged, entry: &Entry) -> Result<Candidate, ArchiveError> {
    let member = |path: &str| {
        staged
            .get(path)
            .ok_or_else(|| ArchiveError::Missing(path.to_string()))
    };
    let config_file = member(&entry.config)?;
    let config = ConfigBlob::parse(config_file.small.clone().unwrap_or_default())?;
    let mut layers = Vec::new();
    for path in &entry.layers {
        let file = member(path)?;
        let kind = sniff(file)?
            .compression()
            .ok_or_else(|| ArchiveError::Invalid {
                what: path.clone(),
                detail: "layer is neither a tar nor gzip or zstd".to_string(),
            })?;
        layers.push(descriptor(
            Flavor::Docker.layer(kind),
            &file.digest,
            file.size,
        )?);
    }
    let manifest = ManifestBlob::build(Flavor::Docker, &config, layers, None)?;
    let names = entry
        .repo_tags
        .iter()
        .flatten()
        .filter_map(|t| Reference::parse_normalized(t).ok())
        .collect();
    Ok(Candidate { manifest, names })
}

fn sniff(file: &StagedFile) -> Result<compression::Format, ArchiveError> {
    let mut head = [0u8; 6];
    let mut f = Staged::open(file)?;
    let mut got = 0;
    while got < head.len() {
        let n = f
            .read(&mut head[got..])
            .map_err(io_err("reading a staged layer"))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(compression::detect(&head[..got]))
}

/// One image to save and the names to save it under (none: by ID only).
pub struct SaveImage<'a> {
    pub image: &'a ImageRecord,
    pub names: Vec<Reference>,
}

/// Writes a `docker save` archive of `images` to `out`.
pub fn save<W: Write>(store: &Store, images: &[SaveImage<'_>], out: W) -> Result<W, ArchiveError> {
    let mut tar = TarOut::new(out);
    let write_err = io_err("writing the archive");
    tar.dir("blobs/").map_err(io_err("writing the archive"))?;
    tar.dir("blobs/sha256/")
        .map_err(io_err("writing the archive"))?;
    let mut written = std::collections::HashSet::new();
    let mut manifest_json = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut index_entries = Vec::new();
    for item in images {
        let config = ConfigBlob::parse(store.read_blob(&item.image.config.digest)?)?;
        put(&mut tar, &mut written, &config.digest, &config.bytes)?;
        let mut layer_paths = Vec::new();
        let mut descriptors = Vec::new();
        for layer in &item.image.layers {
            let blob = variant::layer_in(store, layer, Compression::None)?;
            if written.insert(blob.digest) {
                let source = store.variant_source(layer, &blob)?;
                tar.reader(&blob_path(&blob.digest), blob.size, source)
                    .map_err(io_err("writing the archive"))?;
            }
            layer_paths.push(blob_path(&blob.digest));
            descriptors.push(descriptor(
                Flavor::Docker.layer(Compression::None),
                &blob.digest,
                blob.size,
            )?);
        }
        let manifest = ManifestBlob::build(Flavor::Docker, &config, descriptors, None)?;
        put(&mut tar, &mut written, &manifest.digest, &manifest.bytes)?;
        let desc = manifest.descriptor()?;
        if item.names.is_empty() {
            index_entries.push(desc.clone());
        }
        for name in &item.names {
            index_entries.push(index::named(desc.clone(), name));
            if let (Some(tag), Some(top)) = (name.tag(), item.image.layers.last()) {
                repositories
                    .entry(name.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), top.diff_id.hex());
            }
        }
        let tags: Vec<String> = item
            .names
            .iter()
            .filter(|n| n.tag().is_some())
            .map(Reference::familiar)
            .collect();
        manifest_json.push(Entry {
            config: blob_path(&config.digest),
            repo_tags: (!tags.is_empty()).then_some(tags),
            layers: layer_paths,
        });
    }
    tar.bytes("index.json", &index::build(index_entries)?)
        .map_err(io_err("writing the archive"))?;
    let manifest_bytes = json(&manifest_json)?;
    tar.bytes("manifest.json", &manifest_bytes)
        .map_err(io_err("writing the archive"))?;
    tar.bytes("oci-layout", super::oci::LAYOUT)
        .map_err(io_err("writing the archive"))?;
    if !repositories.is_empty() {
        tar.bytes("repositories", &json(&repositories)?)
            .map_err(io_err("writing the archive"))?;
    }
    tar.finish().map_err(write_err)
}

pub(crate) fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Writes a small blob once per archive.
pub(crate) fn put<W: Write>(
    tar: &mut TarOut<W>,
    written: &mut std::collections::HashSet<Digest>,
    digest: &Digest,
    bytes: &[u8],
) -> Result<(), ArchiveError> {
    if written.insert(*digest) {
        tar.bytes(&blob_path(digest), bytes)
            .map_err(io_err("writing the archive"))?;
    }
    Ok(())
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(value).map_err(|e| ArchiveError::Invalid {
        what: "archive metadata".to_string(),
        detail: e.to_string(),
    })
}
