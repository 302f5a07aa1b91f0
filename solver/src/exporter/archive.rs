//! `--output type=oci|docker,dest=FILE`: the built image written as an OCI
//! layout or `docker save` archive (`dest=-` is stdout, as buildx has it).
//!
//! As BuildKit's exporters, layers are gzip unless `compression=` says
//! otherwise, `compression-level=` is honoured, and annotations go on the
//! manifest, its descriptor and the index in every form. A layer not yet
//! in the asked compression is compressed straight into the archive (see
//! `tarfile`): one read, one write, on every core.

mod tarfile;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kiln_cache::compression::{self, Compression};
use kiln_cache::image::manifest::descriptor;
use kiln_cache::image::{index, json, media_type, ConfigBlob, Flavor, ManifestBlob};
use kiln_cache::{BlobRef, Digest, ImageRecord, LayerRecord, LayerSource, Reference, Store};

use super::annotations::Annotations;
use super::encoder::{LayerCompression, LayerEncoder};
use super::error::ExportError;
use crate::BuildError;
use tarfile::{blob_path, TarFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Oci,
    Docker,
}

/// How one archive output is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveOptions {
    pub layers: LayerCompression,
    /// This output's annotations (the manifest's are added to the ones
    /// the built image already has).
    pub annotations: Annotations,
}

impl Default for ArchiveOptions {
    /// gzip layers at the default level: BuildKit's default for both.
    fn default() -> Self {
        ArchiveOptions {
            layers: LayerCompression {
                compression: Compression::Gzip,
                level: None,
            },
            annotations: Annotations::default(),
        }
    }
}

fn failed(dest: &Path) -> impl Fn(io::Error) -> BuildError + '_ {
    move |source| {
        BuildError::from(ExportError::Write {
            path: dest.to_path_buf(),
            source,
        })
    }
}

/// Writes `image` under `names` to `dest`.
pub fn export(
    store: &Store,
    kind: ArchiveKind,
    image: &ImageRecord,
    names: &[Reference],
    dest: &Path,
    opts: &ArchiveOptions,
) -> Result<(), BuildError> {
    let target = Target::of(dest).map_err(failed(dest))?;
    let writer = Writer {
        store,
        tar: TarFile::new(target.file(dest).map_err(failed(dest))?),
        written: HashSet::new(),
        by_diff_id: HashMap::new(),
        dest,
    };
    let file = writer.write(kind, image, names, opts)?;
    target.finish(file, dest).map_err(failed(dest))
}

/// Where the archive goes. It is written to a file either way (layer
/// headers are patched in place): stdout gets a temporary file's bytes, a
/// regular path gets one by rename, so a failed export leaves no half
/// archive there; a device or a pipe (`/dev/stdout`) is written directly.
enum Target {
    Stdout,
    Direct,
    Renamed(tempfile::NamedTempFile),
}

impl Target {
    fn of(dest: &Path) -> io::Result<Target> {
        if dest == Path::new("-") {
            return Ok(Target::Stdout);
        }
        if std::fs::metadata(dest).is_ok_and(|m| !m.is_file()) {
            return Ok(Target::Direct);
        }
        tempfile::NamedTempFile::new_in(dir_of(dest)).map(Target::Renamed)
    }

    fn file(&self, dest: &Path) -> io::Result<File> {
        match self {
            Target::Stdout => tempfile::tempfile(),
            Target::Direct => File::create(dest),
            Target::Renamed(t) => t.reopen(),
        }
    }

    fn finish(self, mut file: File, dest: &Path) -> io::Result<()> {
        match self {
            Target::Stdout => {
                file.rewind()?;
                let mut out = io::stdout().lock();
                io::copy(&mut file, &mut out)?;
                out.flush()
            }
            Target::Direct => Ok(()),
            Target::Renamed(t) => {
                // What `File::create` gave, under root's usual umask.
                t.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o644))?;
                t.persist(dest).map(drop).map_err(|e| e.error)
            }
        }
    }
}

/// The directory `dest` is written in, where its temporary file goes.
fn dir_of(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

struct Writer<'a> {
    store: &'a Store,
    tar: TarFile,
    written: HashSet<Digest>,
    /// Layers already in the archive, by diff_id.
    by_diff_id: HashMap<Digest, BlobRef>,
    dest: &'a Path,
}

impl Writer<'_> {
    fn io(&self, e: io::Error) -> BuildError {
        failed(self.dest)(e)
    }

    fn put(&mut self, digest: &Digest, bytes: &[u8]) -> Result<(), BuildError> {
        if self.written.insert(*digest) {
            let r = self.tar.bytes(&blob_path(digest), bytes);
            r.map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    fn write(
        mut self,
        kind: ArchiveKind,
        image: &ImageRecord,
        names: &[Reference],
        opts: &ArchiveOptions,
    ) -> Result<File, BuildError> {
        let flavor = match kind {
            ArchiveKind::Oci => Flavor::Oci,
            ArchiveKind::Docker => Flavor::Docker,
        };
        let r = self
            .tar
            .dir("blobs/")
            .and_then(|_| self.tar.dir("blobs/sha256/"));
        r.map_err(|e| self.io(e))?;
        let config = ConfigBlob::parse(self.store.read_blob(&image.config.digest)?)
            .map_err(ExportError::OutputConfig)?;
        self.put(&config.digest, &config.bytes)?;
        let mut descs = Vec::new();
        let mut paths = Vec::new();
        for layer in &image.layers {
            let blob = self.layer(layer, opts.layers)?;
            let media = flavor.layer(opts.layers.compression);
            descs.push(
                descriptor(media, &blob.digest, blob.size).map_err(ExportError::OutputManifest)?,
            );
            paths.push(blob_path(&blob.digest));
        }
        let notes = self.manifest_annotations(image, &opts.annotations)?;
        let manifest = ManifestBlob::build(flavor, &config, descs, Some(notes))
            .map_err(ExportError::OutputManifest)?;
        self.put(&manifest.digest, &manifest.bytes)?;
        let index = index_json(&manifest, names, &opts.annotations)?;
        let mut files: Vec<(&str, Vec<u8>)> = vec![("oci-layout", LAYOUT.to_vec())];
        if kind == ArchiveKind::Docker {
            files.push(("manifest.json", manifest_json(&config, paths, names)?));
            if let Some(r) = repositories(image, names)? {
                files.push(("repositories", r));
            }
        }
        files.push(("index.json", index));
        for (name, bytes) in files {
            let r = self.tar.bytes(name, &bytes);
            r.map_err(|e| self.io(e))?;
        }
        let dest = self.dest;
        self.tar.finish().map_err(failed(dest))
    }

    /// The built image's manifest annotations, with this output's added.
    fn manifest_annotations(
        &self,
        image: &ImageRecord,
        extra: &Annotations,
    ) -> Result<HashMap<String, String>, BuildError> {
        let stored = ManifestBlob::parse(self.store.read_blob(&image.manifest.digest)?)
            .map_err(ExportError::OutputManifest)?;
        let mut notes = stored.manifest.annotations().clone().unwrap_or_default();
        notes.extend(extra.manifest.clone());
        Ok(notes)
    }

    /// Puts `layer` in the archive in `how`, and returns its blob.
    fn layer(&mut self, layer: &LayerRecord, how: LayerCompression) -> Result<BlobRef, BuildError> {
        if let Some(b) = self.by_diff_id.get(&layer.diff_id) {
            return Ok(*b);
        }
        let blob = match self.existing(layer, how)? {
            Some(blob) => {
                if self.written.insert(blob.digest) {
                    // The layer's own blob, which a layer kiln made may
                    // not have on disk: then its tar is made as it goes.
                    let source = self.store.variant_source(layer, &blob)?;
                    let r = self.tar.copy(&blob_path(&blob.digest), blob.size, source);
                    r.map_err(|e| self.io(e))?;
                }
                blob
            }
            None => {
                let source = self.store.layer_source(layer)?;
                let r = self.tar.blob_streamed(|out| encode(source, out, how));
                let blob = r.map_err(|e| self.io(e))?;
                self.written.insert(blob.digest);
                blob
            }
        };
        self.by_diff_id.insert(layer.diff_id, blob);
        Ok(blob)
    }

    /// A blob of `layer` already in the store in the compression asked
    /// for. Like BuildKit without `force-compression`, a layer stored in
    /// that compression is taken as it is, whatever its level; a variant
    /// made earlier only at the default level.
    fn existing(
        &self,
        layer: &LayerRecord,
        how: LayerCompression,
    ) -> Result<Option<BlobRef>, BuildError> {
        let want = how.compression;
        if media_type::layer_compression(&layer.media_type) == Some(want) {
            return Ok(Some(layer.blob));
        }
        if want != Compression::None && how.level.is_some() {
            return Ok(None);
        }
        Ok(self.store.stored_variant(&layer.diff_id, want)?)
    }
}

const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Decompresses a stored layer blob and compresses it as `how` into `out`.
fn encode(source: LayerSource, out: &mut dyn Write, how: LayerCompression) -> io::Result<()> {
    let source = BufReader::with_capacity(1 << 20, source);
    let (_, mut plain) =
        compression::decoder(source).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut enc = LayerEncoder::new(out, how)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = plain.read(&mut buf)?;
        if n == 0 {
            break;
        }
        enc.write_all(&buf[..n])?;
    }
    enc.finish()?;
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, BuildError> {
    Ok(json::canonical(value).map_err(ExportError::Encode)?)
}

/// index.json: the manifest once per name (by ID alone without one), its
/// descriptor annotated; the index's own annotations on top. kiln builds
/// one platform, so the index-descriptor annotations go on the same entry.
fn index_json(
    manifest: &ManifestBlob,
    names: &[Reference],
    notes: &Annotations,
) -> Result<Vec<u8>, BuildError> {
    let desc = manifest.descriptor().map_err(ExportError::OutputManifest)?;
    let named: Vec<_> = match names.is_empty() {
        true => vec![desc],
        false => names
            .iter()
            .map(|n| index::named(desc.clone(), n))
            .collect(),
    };
    let mut entries = Vec::new();
    for d in named {
        let mut v = serde_json::to_value(&d).map_err(ExportError::Encode)?;
        let mut extra: BTreeMap<String, String> = notes.index_descriptor.clone();
        extra.extend(notes.manifest_descriptor.clone());
        if !extra.is_empty() {
            let obj = v["annotations"].as_object().cloned().unwrap_or_default();
            let mut all: serde_json::Map<String, serde_json::Value> = obj;
            for (k, val) in extra {
                all.insert(k, serde_json::Value::String(val));
            }
            v["annotations"] = serde_json::Value::Object(all);
        }
        entries.push(v);
    }
    let mut doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": entries,
    });
    if !notes.index.is_empty() {
        doc["annotations"] = serde_json::json!(notes.index);
    }
    to_json(&doc)
}

/// manifest.json of `docker save` (Docker 25's form).
fn manifest_json(
    config: &ConfigBlob,
    layers: Vec<String>,
    names: &[Reference],
) -> Result<Vec<u8>, BuildError> {
    let tags: Vec<String> = names
        .iter()
        .filter(|n| n.tag().is_some())
        .map(Reference::familiar)
        .collect();
    let entry = serde_json::json!([{
        "Config": blob_path(&config.digest),
        "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { serde_json::json!(tags) },
        "Layers": layers,
    }]);
    Ok(serde_json::to_vec(&entry).map_err(ExportError::Encode)?)
}

/// The classic `repositories` file: name → tag → top layer's diff_id.
fn repositories(image: &ImageRecord, names: &[Reference]) -> Result<Option<Vec<u8>>, BuildError> {
    let Some(top) = image.layers.last() else {
        return Ok(None);
    };
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for n in names {
        if let Some(tag) = n.tag() {
            repos
                .entry(n.familiar_name())
                .or_default()
                .insert(tag.to_string(), top.diff_id.hex());
        }
    }
    if repos.is_empty() {
        return Ok(None);
    }
    let bytes = serde_json::to_vec(&repos).map_err(ExportError::Encode)?;
    Ok(Some(bytes))
}
