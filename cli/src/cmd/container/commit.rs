//! `kiln commit`: a container's overlay upper directory becomes a new layer
//! on top of its image, as `docker commit` makes it: the container paused
//! while the upper is read, its config (command, env, workdir, user) with
//! `-c` changes applied, one history entry carrying `-m`.

use std::fs::File;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Context};
use kiln_cache::compression::Compression;
use kiln_cache::image::change::{self, Config};
use kiln_cache::image::config::timestamp;
use kiln_cache::image::manifest::descriptor;
use kiln_cache::image::{ConfigBlob, Flavor, ManifestBlob};
use kiln_cache::layer::{self, DiffOptions};
use kiln_cache::{ImageRecord, LayerRecord, NewImage, NewSnapshot, Reference, StagingDir, Store};
use kiln_runtime::container::lifecycle::PauseGuard;
use kiln_runtime::container::state::Container;
use kiln_runtime::Rootfs;
use serde_json::{json, Map, Value};

use super::create::containers;
use crate::cmd::image::parse_change;
use crate::globals::Globals;

#[derive(clap::Args)]
pub struct CommitArgs {
    /// Apply a Dockerfile instruction to the image (CMD, ENV, LABEL …)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// Commit message (the history entry's comment)
    #[arg(short, long)]
    message: Option<String>,
    /// Author (e.g. "Jane <jane@example.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Pause the container while committing
    #[arg(short, long, default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pause: bool,
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// REPOSITORY[:TAG] for the new image
    reference: Option<String>,
}

/// The `config` keys oci-spec's `Config` models; others are kept as found.
const KNOWN: [&str; 9] = [
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
];

/// The files the runtime mounts over; they are the container's, not its
/// image's, and Docker never commits them.
const MOUNTED_ETC: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];

pub fn run(args: CommitArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let c = containers(globals).find(&args.container)?;
    let tags = match &args.reference {
        Some(r) => vec![Reference::parse_normalized(r)?],
        None => Vec::new(),
    };
    let changes = args
        .change
        .iter()
        .map(|c| parse_change(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = Store::open(&globals.root).context("opening the store")?;
    let parent = store
        .resolve_image(&c.record.image_id)
        .with_context(|| format!("the image of container {}", c.record.name))?
        .image;
    let layer = {
        let _paused = if args.pause {
            Some(PauseGuard::new(&c)?)
        } else {
            None
        };
        upper_layer(&store, &c, &parent)?
    };
    let image = write_image(&store, &c, &parent, layer, changes, &args, &tags)?;
    println!("{}", image.id());
    Ok(ExitCode::SUCCESS)
}

/// The upper directory as a stored layer: written once as a tar, unpacked
/// into a snapshot (where the runtime's mount stubs are dropped), and that
/// snapshot written again as the layer blob, so blob and snapshot agree.
fn upper_layer(store: &Store, c: &Container, parent: &ImageRecord) -> anyhow::Result<LayerRecord> {
    let Rootfs::Overlay { upper, .. } = &c.record.rootfs else {
        bail!("kiln commit needs a container made from an image");
    };
    let staging = store.new_snapshot_staging()?;
    unpack_upper(upper, &c.dir.join("commit.tar"), staging.path())?;
    let stubs: Vec<_> = MOUNTED_ETC.iter().map(|p| staging.path().join(p)).collect();
    kiln_runtime::container::remove_stubs(&stubs);
    store_layer(store, staging, parent, &c.record.id)
}

fn unpack_upper(upper: &Path, tmp: &Path, into: &Path) -> anyhow::Result<()> {
    let result = (|| -> anyhow::Result<()> {
        let file = File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
        layer::diff(upper, file, &DiffOptions::default())?;
        let file = File::open(tmp).with_context(|| format!("reading {}", tmp.display()))?;
        layer::apply(std::io::BufReader::new(file), into)?;
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
) -> anyhow::Result<LayerRecord> {
    let writer = store.blob_writer()?;
    let (writer, digests) = layer::diff(staging.path(), writer, &DiffOptions::default())?;
    let blob = writer.commit(Some(&digests.digest))?;
    let snapshot = store.commit_snapshot(
        staging,
        NewSnapshot {
            diff_id: Some(digests.diff_id),
            parent: parent.layers.last().map(|l| l.snapshot.clone()),
            created_by: format!("commit {id}"),
        },
    )?;
    let flavor = flavor_of(parent);
    Ok(LayerRecord {
        blob,
        media_type: flavor.layer(Compression::None).to_string(),
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
    changes: Vec<change::Change>,
    args: &CommitArgs,
    tags: &[Reference],
) -> anyhow::Result<ImageRecord> {
    let parent_config: Value = serde_json::from_slice(&store.image_config(parent)?)?;
    let doc = commit_config(parent_config, c, &layer, changes, args)?;
    let bytes = kiln_cache::image::json::canonical(&doc)?;
    let config = ConfigBlob::parse(bytes)?;
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
    Ok(store.add_image(new, tags)?)
}

/// The parent's config document with the container's settings, the
/// changes, the new diff_id and a history entry. Keys kiln does not know
/// (Docker's extras) are kept as they were.
fn commit_config(
    mut doc: Value,
    c: &Container,
    layer: &LayerRecord,
    changes: Vec<change::Change>,
    args: &CommitArgs,
) -> anyhow::Result<Value> {
    let Value::Object(top) = &mut doc else {
        bail!("the image's config is not a JSON object");
    };
    let mut settings = top.remove("config").unwrap_or_else(|| json!({}));
    container_settings(&mut settings, c);
    let mut typed: Config = serde_json::from_value(settings.clone()).unwrap_or_default();
    change::apply_all(&mut typed, changes);
    if let (Value::Object(s), Value::Object(t)) = (&mut settings, serde_json::to_value(&typed)?) {
        // A change may also clear a key (ENTRYPOINT clears an inherited CMD).
        for key in KNOWN {
            if !t.contains_key(key) {
                s.remove(key);
            }
        }
        for (k, v) in t {
            s.insert(k, v);
        }
    }
    let created = timestamp(SystemTime::now());
    top.insert("config".into(), settings);
    top.insert("created".into(), json!(created));
    if let Some(author) = &args.author {
        top.insert("author".into(), json!(author));
    }
    let rootfs = top
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers"}));
    push(rootfs, "diff_ids", json!(layer.diff_id.to_string()));
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    entry.insert("created_by".into(), json!(c.record.command()));
    if let Some(a) = &args.author {
        entry.insert("author".into(), json!(a));
    }
    if let Some(m) = &args.message {
        entry.insert("comment".into(), json!(m));
    }
    let history = top.entry("history").or_insert_with(|| json!([]));
    if let Value::Array(h) = history {
        h.push(Value::Object(entry));
    }
    Ok(doc)
}

fn push(obj: &mut Value, key: &str, item: Value) {
    if let Value::Object(o) = obj {
        let list = o.entry(key).or_insert_with(|| json!([]));
        if let Value::Array(a) = list {
            a.push(item);
        }
    }
}

/// Docker commits the container's own Cmd, Env, WorkingDir and User over
/// the image's: what `run` was given is what the new image runs.
fn container_settings(settings: &mut Value, c: &Container) {
    if !settings.is_object() {
        *settings = json!({});
    }
    let from = &c.record.config;
    let entrypoint: Vec<Value> = from["Entrypoint"].as_array().cloned().unwrap_or_default();
    let cmd: Vec<Value> = from["Cmd"].as_array().cloned().unwrap_or_default();
    // The recorded Cmd is the whole argv; the image's ENTRYPOINT leads it.
    let cmd = match cmd.strip_prefix(entrypoint.as_slice()) {
        Some(rest) if !entrypoint.is_empty() => rest.to_vec(),
        _ => cmd,
    };
    let Value::Object(s) = settings else { return };
    s.insert("Cmd".into(), Value::Array(cmd));
    for key in ["Env", "WorkingDir", "User"] {
        let v = &from[key];
        let empty = v.is_null() || v.as_str() == Some("");
        if !empty {
            s.insert(key.into(), v.clone());
        }
    }
}
