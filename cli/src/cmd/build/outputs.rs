//! `--output`, `--iidfile` and `--metadata-file` of `kiln build`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use kiln_cache::compression::Compression;
use kiln_cache::ImageRecord;
use kiln_solver::Output;

/// One `--output` spec: `type=local,dest=DIR`, `type=tar,dest=F`,
/// `type=oci|docker,dest=F[,compression=…][,compression-level=N]`,
/// `type=image`; a bare path is `type=local,dest=PATH` (buildx's `-o DIR`).
pub fn parse(spec: &str) -> anyhow::Result<Output> {
    if !spec.contains('=') {
        return Ok(match spec {
            "-" => Output::Tar(PathBuf::from("-")),
            dir => Output::Local(PathBuf::from(dir)),
        });
    }
    let mut kind = None;
    let mut dest = None;
    let mut compression = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("type", t)) => kind = Some(t.to_string()),
            Some(("dest", d)) => dest = Some(PathBuf::from(d)),
            Some(("compression", c)) => {
                compression = Some(
                    c.parse::<Compression>()
                        .with_context(|| format!("--output {spec:?}"))?,
                )
            }
            // Accepted for buildx compatibility; kiln's encoders use their
            // default levels (gzip 6, zstd 3).
            Some(("compression-level", l)) => {
                l.parse::<u32>()
                    .with_context(|| format!("--output {spec:?}: compression-level {l:?}"))?;
            }
            Some(("name", _)) | Some(("force-compression", _)) | Some(("oci-mediatypes", _)) => {}
            _ => bail!("--output {spec:?}: expected type=local|tar|oci|docker|image[,dest=…]"),
        }
    }
    let need_dest =
        |d: Option<PathBuf>| d.with_context(|| format!("--output {spec:?}: dest= is required"));
    Ok(match kind.as_deref() {
        Some("image") | Some("registry") | None => Output::Image,
        Some("oci") => Output::Oci(need_dest(dest)?, compression),
        Some("docker") => {
            if compression.is_some_and(|c| c != Compression::None) {
                bail!("--output {spec:?}: docker archives are written uncompressed; use type=oci for compressed layers");
            }
            Output::Docker(need_dest(dest)?)
        }
        Some("local") => Output::Local(need_dest(dest)?),
        Some("tar") => Output::Tar(need_dest(dest)?),
        Some(other) => {
            bail!("--output type={other} is not supported (local, tar, oci, docker, image)")
        }
    })
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
