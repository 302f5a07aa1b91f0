//! A container's changes as a new image (`commit`), as `docker commit`
//! makes it: its overlay upper directory becomes one layer on top of its
//! image (read with the container paused, unless asked not to), the
//! image's config takes the container's command, environment, workdir and
//! user, then the `--change` instructions, and one history entry carries
//! the message.

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use kiln_cache::compression::Compression;
use kiln_cache::image::change::{self, Change, Config};
use kiln_cache::image::config::{timestamp, OCI_CONFIG_KEYS};
use kiln_cache::image::manifest::descriptor;
use kiln_cache::image::{Flavor, ImageConfig, ManifestBlob};
use kiln_cache::layer::{self, DiffOptions};
use kiln_cache::{ImageRecord, LayerRecord, NewImage, NewSnapshot, Reference, StagingDir, Store};
use kiln_runtime::container::lifecycle::PauseGuard;
use kiln_runtime::container::state::Container;
use kiln_runtime::Rootfs;
use serde_json::{json, Map, Value};

use crate::{Engine, Error};

#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// Applied to the config after the container's own settings.
    pub changes: Vec<Change>,
    /// The history entry's comment.
    pub message: Option<String>,
    pub author: Option<String>,
    /// Freeze the container while its files are read (Docker's default).
    pub pause: bool,
    /// Names for the new image.
    pub tags: Vec<Reference>,
}

impl Default for CommitOptions {
    fn default() -> CommitOptions {
        CommitOptions {
            changes: Vec::new(),
            message: None,
            author: None,
            pause: true,
            tags: Vec::new(),
        }
    }
}

/// The files the runtime mounts over; they are the container's, not its
/// image's, and Docker never commits them.
const MOUNTED_ETC: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];

impl Engine {
    /// The new image.
    pub fn commit(&self, key: &str, opts: &CommitOptions) -> Result<ImageRecord, Error> {
        let c = self.container(key)?;
        let store = Store::open(self.root()).map_err(Error::OpenStore)?;
        let parent = store
            .resolve_image(&c.record.image_id)
            .map_err(|source| Error::CommitBase {
                container: c.record.name.clone(),
                source,
            })?
            .image;
        let layer = {
            let _paused = opts.pause.then(|| PauseGuard::new(&c)).transpose()?;
            upper_layer(&store, &c, &parent)?
        };
        write_image(&store, &c, &parent, layer, opts)
    }
}

/// The upper directory as a stored layer: written once as a tar, unpacked
/// into a snapshot (where the runtime's mount stubs are dropped), and that
/// snapshot written again as the layer blob, so blob and snapshot agree.
fn upper_layer(store: &Store, c: &Container, parent: &ImageRecord) -> Result<LayerRecord, Error> {
    let Rootfs::Overlay { upper, lowers, .. } = &c.record.rootfs else {
        return Err(Error::NotFromImage("commit"));
    };
    let staging = store.new_snapshot_staging()?;
    unpack_upper(upper, &c.dir.join("commit.tar"), staging.path())?;
    let stubs: Vec<_> = MOUNTED_ETC.iter().map(|p| staging.path().join(p)).collect();
    kiln_runtime::container::remove_stubs(&stubs);
    drop_copied_up(staging.path(), upper, lowers, "etc");
    store_layer(store, staging, parent, &c.record.id)
}

/// Drops directory `rel` from the unpacked layer when overlayfs copied it
/// up only to hold the stubs just removed: it is empty now and has the
/// type, mode and owner of the image's. Docker's commit of a container that
/// changed nothing is an empty layer, not one holding `etc/`.
fn drop_copied_up(staging: &Path, upper: &Path, lowers: &[PathBuf], rel: &str) {
    let dir = staging.join(rel);
    // An opaque directory replaced the image's: a change even when empty.
    let empty = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_none())
        && !layer::whiteout::is_opaque(&dir).unwrap_or(true);
    // Lowers are listed top first: the first holding `rel` is what shows.
    let below = lowers
        .iter()
        .find_map(|l| std::fs::symlink_metadata(l.join(rel)).ok());
    let (Ok(up), Some(below)) = (std::fs::symlink_metadata(upper.join(rel)), below) else {
        return;
    };
    let same = up.is_dir()
        && below.is_dir()
        && up.mode() == below.mode()
        && up.uid() == below.uid()
        && up.gid() == below.gid();
    if empty && same {
        let _ = std::fs::remove_dir(&dir);
    }
}

fn unpack_upper(upper: &Path, tmp: &Path, into: &Path) -> Result<(), Error> {
    let file_error = |op| {
        move |source| Error::CommitFile {
            op,
            path: tmp.to_path_buf(),
            source,
        }
    };
    let result = (|| {
        let file = File::create(tmp).map_err(file_error("creating"))?;
        layer::diff(upper, file, &DiffOptions::default())?;
        let file = File::open(tmp).map_err(file_error("reading"))?;
        layer::apply(BufReader::new(file), into)?;
        Ok(())
    })();
    let _ = std::fs::remove_file(tmp);
    result
}

fn store_layer(
    store: &Store,
    staging: StagingDir,
    parent: &ImageRecord,
    id: &str,
) -> Result<LayerRecord, Error> {
    // The diff hashes the tar; the store takes its digest.
    let writer = store.blob_writer_hashed_by_caller()?;
    let (writer, digests, tree) =
        layer::diff_measured(staging.path(), writer, &DiffOptions::default())?;
    let blob = writer.commit(Some(&digests.digest))?;
    let snapshot = store.commit_measured_snapshot(
        staging,
        NewSnapshot {
            diff_id: Some(digests.diff_id),
            tar_size: None,
            parent: parent.layers.last().map(|l| l.snapshot.clone()),
            created_by: format!("commit {id}"),
        },
        Some(tree),
    )?;
    Ok(LayerRecord {
        blob,
        media_type: flavor_of(parent).layer(Compression::None).to_string(),
        diff_id: digests.diff_id,
        snapshot,
    })
}

/// The parent's manifest flavor, so the new manifest's layer types agree.
fn flavor_of(parent: &ImageRecord) -> Flavor {
    Flavor::of_manifest(&parent.manifest_media_type).unwrap_or(Flavor::Oci)
}

fn write_image(
    store: &Store,
    c: &Container,
    parent: &ImageRecord,
    layer: LayerRecord,
    opts: &CommitOptions,
) -> Result<ImageRecord, Error> {
    let mut doc = ImageConfig::parse(&store.image_config(parent)?).map_err(Error::ImageConfig)?;
    commit_config(&mut doc, c, &layer, opts)?;
    let config = doc.to_blob().map_err(Error::NewConfig)?;
    let config_ref = store.put_blob_bytes(&config.bytes)?;
    let mut layers = parent.layers.clone();
    layers.push(layer);
    let descs = layers
        .iter()
        .map(|l| descriptor(&l.media_type, &l.blob.digest, l.blob.size))
        .collect::<Result<Vec<_>, _>>()?;
    let flavor = flavor_of(parent);
    let manifest = ManifestBlob::build(flavor, &config, descs, None)?;
    let manifest_ref = store.put_blob_bytes(&manifest.bytes)?;
    let new = NewImage {
        manifest: manifest_ref,
        manifest_media_type: flavor.manifest().to_string(),
        config: config_ref,
        layers,
        created: config.config.created().clone(),
        index: None,
    };
    Ok(store.add_image(new, &opts.tags)?)
}

/// The parent's config with the container's settings, the changes, the
/// new diff_id and a history entry. Keys kiln does not know (Docker's
/// extras) are kept as they were.
fn commit_config(
    doc: &mut ImageConfig,
    c: &Container,
    layer: &LayerRecord,
    opts: &CommitOptions,
) -> Result<(), Error> {
    let settings = doc.config_mut();
    container_settings(settings, c);
    apply_changes(settings, opts.changes.clone())?;
    let created = timestamp(SystemTime::now());
    let Value::Object(top) = &mut doc.doc else {
        unreachable!("config_mut made the document an object");
    };
    top.insert("created".into(), json!(created));
    if let Some(author) = &opts.author {
        top.insert("author".into(), json!(author));
    }
    let rootfs = top
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers"}));
    push(rootfs, "diff_ids", json!(layer.diff_id.to_string()));
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    entry.insert("created_by".into(), json!(c.record.command()));
    if let Some(a) = &opts.author {
        entry.insert("author".into(), json!(a));
    }
    if let Some(m) = &opts.message {
        entry.insert("comment".into(), json!(m));
    }
    let history = top.entry("history").or_insert_with(|| json!([]));
    if let Value::Array(h) = history {
        h.push(Value::Object(entry));
    }
    Ok(())
}

/// The changes, through oci-spec's `Config`, written back over the keys
/// it models; a change may also clear a key (ENTRYPOINT clears an
/// inherited CMD).
fn apply_changes(settings: &mut Map<String, Value>, changes: Vec<Change>) -> Result<(), Error> {
    let mut typed: Config =
        serde_json::from_value(Value::Object(settings.clone())).unwrap_or_default();
    change::apply_all(&mut typed, changes);
    let Value::Object(applied) = serde_json::to_value(&typed).map_err(Error::ConfigEncode)? else {
        return Ok(());
    };
    for key in OCI_CONFIG_KEYS {
        if !applied.contains_key(key) {
            settings.remove(key);
        }
    }
    settings.extend(applied);
    Ok(())
}

fn push(obj: &mut Value, key: &str, item: Value) {
    if let Value::Object(o) = obj {
        let list = o.entry(key).or_insert_with(|| json!([]));
        if let Value::Array(a) = list {
            a.push(item);
        }
    }
}

/// Docker commits the container's own Cmd, Env, WorkingDir, User and
/// Healthcheck over the image's: what `run` was given is what the new
/// image runs.
fn container_settings(settings: &mut Map<String, Value>, c: &Container) {
    let from = &c.record.config;
    let entrypoint: Vec<Value> = from["Entrypoint"].as_array().cloned().unwrap_or_default();
    let cmd: Vec<Value> = from["Cmd"].as_array().cloned().unwrap_or_default();
    // The recorded Cmd is the whole argv; the image's ENTRYPOINT leads it.
    let cmd = match cmd.strip_prefix(entrypoint.as_slice()) {
        Some(rest) if !entrypoint.is_empty() => rest.to_vec(),
        _ => cmd,
    };
    settings.insert("Cmd".into(), Value::Array(cmd));
    for key in ["Env", "WorkingDir", "User", "Healthcheck"] {
        let v = &from[key];
        let empty = v.is_null() || v.as_str() == Some("");
        if !empty {
            settings.insert(key.into(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entrypoint_change_clears_the_inherited_cmd_and_unknown_keys_stay() {
        let mut settings =
            json!({"Cmd": ["sh"], "Healthcheck": {"Test": ["NONE"]}, "Env": ["A=1"]});
        let Value::Object(s) = &mut settings else {
            unreachable!()
        };
        let changes = vec![Change::Entrypoint(vec!["/bin/app".into()])];
        apply_changes(s, changes).unwrap();
        assert_eq!(s["Entrypoint"], json!(["/bin/app"]));
        assert!(!s.contains_key("Cmd"), "{s:?}");
        assert_eq!(s["Healthcheck"], json!({"Test": ["NONE"]}));
        assert_eq!(s["Env"], json!(["A=1"]));
    }
}
