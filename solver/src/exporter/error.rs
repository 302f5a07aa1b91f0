//! What writing an output can fail with, each lower error kept whole.

use std::io;
use std::path::PathBuf;

use kiln_cache::compression::CompressionError;
use kiln_cache::image::{ConfigError, ManifestError};
use kiln_cache::layer::diff::DiffError;
use kiln_cache::registry::RegistryError;
use kiln_cache::Digest;

use crate::ops::mounts::MountError;
use crate::BuildError;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    // A step's layer: a failed step's line shows these by Display alone,
    // so they carry their cause in the text rather than as a source.
    #[error("writing a layer: clamping mtimes: {0}")]
    Clamp(io::Error),
    #[error("writing a layer: {}", crate::error_chain(.0))]
    Diff(DiffError),

    #[error("writing a layer")]
    Config(#[source] ConfigError),
    #[error("writing a layer")]
    Manifest(#[source] ManifestError),
    #[error("writing a layer")]
    Decompress(#[source] CompressionError),
    #[error("writing a layer: compressing {diff_id}")]
    Compress {
        diff_id: Digest,
        #[source]
        source: io::Error,
    },

    /// An archive or directory output that could not be written.
    #[error("output: {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The filesystem output: the mount error already names its cause.
    #[error("output: {}: {cause}", path.display())]
    Tree { path: PathBuf, cause: MountError },
    #[error("output")]
    OutputConfig(#[source] ConfigError),
    #[error("output")]
    OutputManifest(#[source] ManifestError),
    #[error("output")]
    Encode(#[source] serde_json::Error),
    /// `--push`: the registry form of the image's manifest.
    #[error("output: making the pushed manifest")]
    PushConfig(#[source] ConfigError),
    #[error("output: making the pushed manifest")]
    PushManifest(#[source] ManifestError),
    #[error("output: push needs a name: use -t NAME or --output type=image,name=NAME,push=true")]
    PushName,
    /// The registry's error is in the text, as the progress shows it.
    #[error("output: pushing {reference}: {cause}")]
    Push {
        reference: String,
        cause: RegistryError,
    },
}

// Boxed: outputs fail rarely, and every build result would carry the size.
impl From<ExportError> for BuildError {
    fn from(e: ExportError) -> BuildError {
        BuildError::Export(Box::new(e))
    }
}

impl ExportError {
    /// The error for a failed write to output `path`.
    pub fn write(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ExportError {
        let path = path.into();
        move |source| ExportError::Write { path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_failed_write_names_the_output_and_keeps_the_io_error() {
        let cause = io::Error::from(io::ErrorKind::PermissionDenied);
        let e = ExportError::write("/out/x.tar")(cause);
        assert_eq!(e.to_string(), "output: /out/x.tar");
        let source = e.source().and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(
            source.map(io::Error::kind),
            Some(io::ErrorKind::PermissionDenied)
        );
    }

    #[test]
    fn a_failed_layer_shows_its_io_cause_on_the_step_line() {
        let cause = io::Error::from_raw_os_error(libc::ENOSPC);
        let e = ExportError::Diff(DiffError::Write(cause));
        let text = e.to_string();
        assert!(
            text.starts_with("writing a layer: writing the layer: "),
            "{text}"
        );
        assert!(text.contains("No space left on device"), "{text}");
    }
}
