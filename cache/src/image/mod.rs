//! Image formats: configs (the image ID is the config digest; `config`
//! holds one as stored, `document` as a build edits it), manifests,
//! indexes, media types of the OCI and Docker families, and the views the
//! CLI shows (history rows, the inspect object).

pub mod change;
pub mod config;
pub mod document;
pub mod history;
pub mod index;
pub mod inspect;
pub mod json;
pub mod manifest;
pub mod media_type;

pub use config::{ConfigBlob, ConfigError};
pub use document::{ImageConfig, DEFAULT_PATH};
pub use manifest::{ManifestBlob, ManifestError};
pub use media_type::Flavor;
