//! OCI image layout archives (image-spec image-layout.md): oci-layout,
//! index.json naming each manifest, blobs/sha256/*. Saved manifests keep
//! their digests unless a compression is asked for that the stored layers
//! are not in, or the stored manifest is Docker's (then an OCI one is made).

use std::collections::HashSet;
use std::io::Write;

use oci_spec::image::Descriptor;

use crate::compression::Compression;
use crate::digest::Digest;
use crate::image::manifest::{descriptor, descriptor_digest};
use crate::image::{index, media_type, ConfigBlob, Flavor, ManifestBlob};
use crate::store::Store;

use super::docker::{blob_path, put, SaveImage};
use super::load::Candidate;
use super::staged::Staged;
use super::tar_out::TarOut;
use super::{io_err, variant, ArchiveError};

pub(crate) const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

pub(crate) fn candidates(staged: &Staged) -> Result<Vec<Candidate>, ArchiveError> {
    let idx = index::parse(staged.json_bytes("index.json")?)?;
    let mut out = Vec::new();
    for desc in idx.manifests() {
        let names: Vec<_> = index::entry_name(desc, None).into_iter().collect();
        let manifest = resolve_manifest(staged, desc, 0)?;
        // Entries naming the same manifest merge into one image.
        match out
            .iter_mut()
            .find(|c: &&mut Candidate| c.manifest.digest == manifest.digest)
        {
            Some(existing) => existing.names.extend(names),
            None => out.push(Candidate { manifest, names }),
        }
    }
    Ok(out)
}

/// Follows nested indexes (multi-platform images) to this machine's image.
fn resolve_manifest(
    staged: &Staged,
    desc: &Descriptor,
    depth: usize,
) -> Result<ManifestBlob, ArchiveError> {
    let digest = descriptor_digest(desc)?;
    let file = staged.by_digest(&digest)?;
    let bytes = file
        .small
        .clone()
        .ok_or_else(|| ArchiveError::Missing(format!("manifest {digest}")))?;
    if media_type::is_index(desc.media_type().as_ref()) {
        let nested = index::parse(&bytes)?;
        let pick = index::pick_platform(&nested).ok_or_else(|| ArchiveError::Invalid {
            what: format!("index {digest}"),
            detail: "no image for this platform".to_string(),
        })?;
        if depth > 4 {
            return Err(ArchiveError::Invalid {
                what: format!("index {digest}"),
                detail: "indexes nested too deep".to_string(),
            });
        }
        return resolve_manifest(staged, pick, depth + 1);
    }
    Ok(ManifestBlob::parse(bytes)?)
}

/// Writes an OCI layout archive of `images`; `compression` re-encodes the
/// layers (BuildKit's `--output type=oci,compression=…`), None keeps them.
pub fn save<W: Write>(
    store: &Store,
    images: &[SaveImage<'_>],
    out: W,
    compression: Option<Compression>,
) -> Result<W, ArchiveError> {
    let mut tar = TarOut::new(out);
    tar.dir("blobs/").map_err(io_err("writing the archive"))?;
    tar.dir("blobs/sha256/")
        .map_err(io_err("writing the archive"))?;
    let mut written = HashSet::new();
    let mut index_entries = Vec::new();
    for item in images {
        let manifest = save_image(store, &mut tar, &mut written, item, compression)?;
        let desc = manifest.descriptor()?;
        if item.names.is_empty() {
            index_entries.push(desc.clone());
        }
        for name in &item.names {
            index_entries.push(index::named(desc.clone(), name));
        }
    }
    tar.bytes("oci-layout", LAYOUT)
        .map_err(io_err("writing the archive"))?;
    tar.bytes("index.json", &index::build(index_entries)?)
        .map_err(io_err("writing the archive"))?;
    tar.finish().map_err(io_err("writing the archive"))
}

fn save_image<W: Write>(
    store: &Store,
    tar: &mut TarOut<W>,
    written: &mut HashSet<Digest>,
    item: &SaveImage<'_>,
    compression: Option<Compression>,
) -> Result<ManifestBlob, ArchiveError> {
    let stored = ManifestBlob::parse(store.read_blob(&item.image.manifest.digest)?)?;
    let config = ConfigBlob::parse(store.read_blob(&item.image.config.digest)?)?;
    put(tar, written, &config.digest, &config.bytes)?;
    let keep = stored.flavor == Flavor::Oci
        && compression.is_none_or(|c| {
            item.image
                .layers
                .iter()
                .all(|l| media_type::layer_compression(&l.media_type) == Some(c))
        });
    let mut descriptors = Vec::new();
    for layer in &item.image.layers {
        let (blob, mt) = if keep {
            (layer.blob, layer.media_type.clone())
        } else {
            let want = compression
                .or_else(|| media_type::layer_compression(&layer.media_type))
                .unwrap_or(Compression::Gzip);
            (
                variant::layer_in(store, layer, want)?,
                Flavor::Oci.layer(want).to_string(),
            )
        };
        if written.insert(blob.digest) {
            let source = store.variant_source(layer, &blob)?;
            tar.reader(&blob_path(&blob.digest), blob.size, source)
                .map_err(io_err("writing the archive"))?;
        }
        descriptors.push(descriptor(&mt, &blob.digest, blob.size)?);
    }
    let manifest = if keep {
        stored
    } else {
        ManifestBlob::build(Flavor::Oci, &config, descriptors, None)?
    };
    put(tar, written, &manifest.digest, &manifest.bytes)?;
    Ok(manifest)
}
