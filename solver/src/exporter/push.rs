//! `kiln build --push` / `--output type=image,push=true`: the built image
//! to its registry, as buildx pushes: layers gzip-compressed (the store
//! keeps them plain; a registry client expects compressed layers), the
//! config unchanged, so the image ID a registry reports is the local one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use kiln_cache::compression::Compression;
use kiln_cache::image::manifest::descriptor;
use kiln_cache::image::{ConfigBlob, Flavor, ManifestBlob};
use kiln_cache::registry::{self, PushOptions, RegistryConfig};
use kiln_cache::{Digest, ImageRecord, LayerRecord, Reference, Store};

use super::compress::compressed;
use super::error::ExportError;
use crate::progress::{Event, Progress};
use crate::pull::{layer_line, off_runtime};
use crate::BuildError;

/// `image` with its layers compressed, its manifest in the store: what a
/// registry is sent. The local image is left as it is.
pub fn registry_form(
    store: &Store,
    image: &ImageRecord,
    compression: Compression,
) -> Result<ImageRecord, BuildError> {
    let mut layers = Vec::with_capacity(image.layers.len());
    for l in &image.layers {
        let (blob, media_type) = compressed(store, l, compression)?;
        layers.push(LayerRecord {
            blob,
            media_type,
            diff_id: l.diff_id,
            snapshot: l.snapshot.clone(),
        });
    }
    let config = ConfigBlob::parse(store.read_blob(&image.config.digest)?)
        .map_err(ExportError::PushConfig)?;
    let descs = layers
        .iter()
        .map(|l| descriptor(&l.media_type, &l.blob.digest, l.blob.size))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ExportError::PushManifest)?;
    // The built manifest's annotations (`--annotation`) travel with it.
    let stored = ManifestBlob::parse(store.read_blob(&image.manifest.digest)?)
        .map_err(ExportError::PushManifest)?;
    let notes = stored.manifest.annotations().clone();
    let manifest = ManifestBlob::build(Flavor::Oci, &config, descs, notes)
        .map_err(ExportError::PushManifest)?;
    let manifest_ref = store.put_blob_bytes(&manifest.bytes)?;
    Ok(ImageRecord {
        manifest: manifest_ref,
        manifest_media_type: Flavor::Oci.manifest().to_string(),
        layers,
        index: None,
        ..image.clone()
    })
}

/// Pushes `image` to each of `targets`; returns the manifest digest.
pub fn push_image(
    store: &Store,
    image: &ImageRecord,
    targets: &[Reference],
    config: &RegistryConfig,
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Result<Option<Digest>, BuildError> {
    if targets.is_empty() {
        return Err(ExportError::PushName.into());
    }
    let v = vertex.fetch_add(1, Ordering::SeqCst) + 1;
    let started = Instant::now();
    progress.send(Event::Started {
        vertex: v,
        name: "exporting to image".into(),
    });
    let pushed = registry_form(store, image, Compression::Gzip)?;
    let report = |e: &registry::Event| {
        if let Some(line) = layer_line(e) {
            progress.send(Event::Log { vertex: v, line });
        }
    };
    let mut digest = None;
    for target in targets {
        progress.send(Event::Log {
            vertex: v,
            line: format!("pushing layers and manifest for {target}"),
        });
        let result = off_runtime(|| {
            registry::push(
                store,
                &pushed,
                target,
                config,
                &PushOptions::default(),
                &report,
            )
        });
        match result {
            Ok(d) => digest = Some(d),
            Err(cause) => {
                progress.send(Event::Failed {
                    vertex: v,
                    message: format!("pushing {}: {cause}", target.familiar()),
                });
                return Err(ExportError::Push {
                    reference: target.familiar(),
                    cause,
                }
                .into());
            }
        }
    }
    progress.send(Event::Done {
        vertex: v,
        elapsed: started.elapsed(),
    });
    Ok(digest)
}
