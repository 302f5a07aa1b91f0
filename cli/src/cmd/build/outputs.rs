//! `--output`, `--iidfile` and `--metadata-file` of `kiln build`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use kiln_cache::compression::Compression;
use kiln_cache::ImageRecord;
use kiln_solver::exporter::annotations::Annotations;
use kiln_solver::exporter::archive::ArchiveOptions;
use kiln_solver::exporter::encoder::LayerCompression;
use kiln_solver::Output;

/// What `--output` and `--annotation` flags come to.
pub struct Parsed {
    /// Each archive output with its annotations.
    pub outputs: Vec<Output>,
    /// The manifest annotations of the image kept in the store.
    pub stored: Vec<(String, String)>,
}

/// Every `--output` (type=image ones without their name/push keys) and
/// every `--annotation`.
pub fn parse_all(specs: &[String], flags: &[String]) -> anyhow::Result<Parsed> {
    let mut given = Annotations::default();
    for f in flags {
        given.add_flag(f).context("--annotation")?;
    }
    let mut stored = given.manifest.clone();
    let mut outputs = Vec::new();
    for spec in specs {
        let (mut output, notes) = parse(spec)?;
        match &mut output {
            Output::Oci(_, o) | Output::Docker(_, o) => o.annotations = given.merged(&notes),
            // The store keeps one manifest per image: no index to annotate.
            Output::Image => stored.extend(notes.manifest),
            Output::Local(_) | Output::Tar(_) if !notes.is_empty() => {
                bail!("--output {spec:?}: annotations apply to image, oci and docker outputs")
            }
            Output::Local(_) | Output::Tar(_) => {}
        }
        outputs.push(output);
    }
    Ok(Parsed {
        outputs,
        stored: stored.into_iter().collect(),
    })
}

/// One `--output` spec: `type=local,dest=DIR`, `type=tar,dest=F`,
/// `type=oci|docker,dest=F[,compression=…][,compression-level=N]`,
/// `type=image`, each with `annotation…` keys; a bare path is
/// `type=local,dest=PATH` (buildx's `-o DIR`).
pub fn parse(spec: &str) -> anyhow::Result<(Output, Annotations)> {
    let mut notes = Annotations::default();
    if !spec.contains('=') {
        let output = match spec {
            "-" => Output::Tar(PathBuf::from("-")),
            dir => Output::Local(PathBuf::from(dir)),
        };
        return Ok((output, notes));
    }
    let mut kind = None;
    let mut dest = None;
    // BuildKit's archives default to gzip layers.
    let mut compression = Compression::Gzip;
    let mut level = None;
    for part in spec.split(',') {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        if notes
            .add_output_key(key, value)
            .with_context(|| format!("--output {spec:?}"))?
        {
            continue;
        }
        match key {
            "type" => kind = Some(value.to_string()),
            "dest" => dest = Some(PathBuf::from(value)),
            "compression" => {
                compression = value
                    .parse::<Compression>()
                    .with_context(|| format!("--output {spec:?}"))?
            }
            "compression-level" => {
                level =
                    Some(value.parse::<i32>().with_context(|| {
                        format!("--output {spec:?}: compression-level {value:?}")
                    })?)
            }
            "name" | "force-compression" | "oci-mediatypes" => {}
            _ => bail!("--output {spec:?}: expected type=local|tar|oci|docker|image[,dest=…]"),
        }
    }
    let layers =
        LayerCompression::new(compression, level).with_context(|| format!("--output {spec:?}"))?;
    let archive = ArchiveOptions {
        layers,
        annotations: Annotations::default(),
    };
    let need_dest =
        |d: Option<PathBuf>| d.with_context(|| format!("--output {spec:?}: dest= is required"));
    let output = match kind.as_deref() {
        Some("image") | Some("registry") | None => Output::Image,
        Some("oci") => Output::Oci(need_dest(dest)?, archive),
        Some("docker") => {
            if compression == Compression::Zstd {
                bail!("--output {spec:?}: docker archives take gzip or uncompressed layers; use type=oci for zstd");
            }
            Output::Docker(need_dest(dest)?, archive)
        }
        Some("local") => Output::Local(need_dest(dest)?),
        Some("tar") => Output::Tar(need_dest(dest)?),
        Some(other) => {
            bail!("--output type={other} is not supported (local, tar, oci, docker, image)")
        }
    };
    Ok((output, notes))
}

/// Writes `--iidfile`: the image ID, no newline (as docker does).
pub fn write_iidfile(path: &Path, image: &ImageRecord) -> anyhow::Result<()> {
    std::fs::write(path, image.id().to_string())
        .with_context(|| format!("writing --iidfile {}", path.display()))
}

/// Writes `--metadata-file` with BuildKit's keys.
pub fn write_metadata(path: &Path, image: &ImageRecord, names: &[String]) -> anyhow::Result<()> {
    let mut doc = serde_json::json!({
        "containerimage.digest": image.manifest.digest.to_string(),
        "containerimage.config.digest": image.config.digest.to_string(),
        "containerimage.descriptor": {
            "mediaType": image.manifest_media_type,
            "digest": image.manifest.digest.to_string(),
            "size": image.manifest.size,
        },
    });
    if !names.is_empty() {
        doc["image.name"] = serde_json::Value::String(names.join(","));
    }
    let bytes = serde_json::to_vec_pretty(&doc)?;
    std::fs::write(path, bytes)
        .with_context(|| format!("writing --metadata-file {}", path.display()))
}
