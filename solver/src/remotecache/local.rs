//! `type=local`: the cache as an OCI image layout in a directory
//! (`oci-layout`, `index.json`, `blobs/sha256/…`), so CI systems can keep
//! it as a plain directory between runs. Blobs already in the directory
//! are kept (they are content-addressed); `index.json` is replaced last,
//! by rename, so a reader sees the old cache or the new one.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use kiln_cache::image::media_type::{OCI_INDEX, OCI_MANIFEST};
use kiln_cache::{BlobRef, Digest, LayerRecord, Store};
use serde_json::json;

use super::format::CacheConfig;
use super::import::{load_manifest, BlobSource, Loaded};
use super::CacheError;

fn io_err(dir: &Path) -> impl Fn(io::Error) -> CacheError + '_ {
    move |source| CacheError::Dir {
        dir: dir.to_path_buf(),
        source,
    }
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(digest.hex())
}

fn copy_blob(store: &Store, dir: &Path, blob: &BlobRef) -> Result<(), CacheError> {
    let dest = blob_path(dir, &blob.digest);
    if dest.is_file() {
        return Ok(());
    }
    let tmp = dest.with_extension("tmp");
    fs::copy(store.blob_path(&blob.digest), &tmp).map_err(io_err(dir))?;
    fs::rename(&tmp, &dest).map_err(io_err(dir))
}

/// Writes the cache (config, layers, manifest) into `dir`.
pub fn write(
    store: &Store,
    dir: &Path,
    config_ref: &BlobRef,
    manifest_ref: &BlobRef,
    layers: &[LayerRecord],
) -> Result<(), CacheError> {
    fs::create_dir_all(dir.join("blobs/sha256")).map_err(io_err(dir))?;
    for l in layers {
        copy_blob(store, dir, &l.blob)?;
    }
    copy_blob(store, dir, config_ref)?;
    copy_blob(store, dir, manifest_ref)?;
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err(dir))?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_ref.digest.to_string(),
            "size": manifest_ref.size,
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    let bytes = serde_json::to_vec(&index).map_err(CacheError::EncodeIndex)?;
    let tmp = dir.join("index.json.tmp");
    fs::write(&tmp, bytes).map_err(io_err(dir))?;
    fs::rename(&tmp, dir.join("index.json")).map_err(io_err(dir))
}

/// Blobs read from a cache directory.
struct Dir(PathBuf);

impl BlobSource for Dir {
    fn describe(&self) -> String {
        self.0.display().to_string()
    }

    fn open(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send + '_>, CacheError> {
        let file = fs::File::open(blob_path(&self.0, digest)).map_err(io_err(&self.0))?;
        Ok(Box::new(file.take(size)))
    }
}

/// Reads the cache config of the layout in `dir`.
pub fn open(dir: &Path) -> Result<Loaded, CacheError> {
    let index = fs::read(dir.join("index.json")).map_err(io_err(dir))?;
    let doc: serde_json::Value =
        serde_json::from_slice(&index).map_err(|source| CacheError::Index {
            dir: dir.to_path_buf(),
            source,
        })?;
    let digest = doc["manifests"][0]["digest"]
        .as_str()
        .and_then(|d| Digest::parse(d).ok())
        .ok_or_else(|| CacheError::NoManifest {
            dir: dir.to_path_buf(),
        })?;
    let source = Dir(dir.to_path_buf());
    let manifest = read_verified(&source, &digest)?;
    let config: CacheConfig = load_manifest(&manifest, &|d, size| {
        let mut bytes = Vec::new();
        source
            .open(d, size)?
            .read_to_end(&mut bytes)
            .map_err(io_err(dir))?;
        Ok(bytes)
    })?;
    Ok(Loaded {
        config,
        source: Box::new(source),
    })
}

fn read_verified(source: &Dir, digest: &Digest) -> Result<Vec<u8>, CacheError> {
    let bytes = fs::read(blob_path(&source.0, digest)).map_err(io_err(&source.0))?;
    if Digest::of_bytes(&bytes) != *digest {
        return Err(CacheError::BlobDigest {
            dir: source.0.clone(),
            digest: *digest,
        });
    }
    Ok(bytes)
}
