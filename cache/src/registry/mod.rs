//! Registries: the remote tier of the store. A small client of the OCI
//! distribution protocol over blocking `reqwest` (rustls on ring), so a
//! layer's HTTP body is a plain `Read` that flows through the digest check
//! into the layer applier on a worker thread, with no async bridge.
//!
//! * `config`: which hosts are plain HTTP or unverified TLS, and mirrors
//!   (buildkitd.toml's `[registry."host"]` keys, parsed by the CLI).
//! * `credentials`: Docker's `config.json` `auths`, read and written.
//! * `auth` / `client`: one registry repository over HTTP, answering
//!   `WWW-Authenticate` challenges (anonymous, basic, bearer tokens).
//! * `pull` / `push`: images between the store and a registry.

pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod credentials;
pub mod login;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod push;
pub mod transfer;
mod upload_body;
mod workers;

use crate::digest::Digest;
use crate::image::{ConfigError, ManifestError};
use crate::layer::ApplyError;
use crate::store::StoreError;

pub use config::{HostConfig, RegistryConfig, TimeoutError, Timeouts};
pub use credentials::{Credentials, CredentialsFile};
pub use login::{login, LoginError};
pub use platform::Platform;
pub use progress::{Event, LayerState};
pub use pull::pull;
pub use push::{push, PushOptions};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{method} {url}")]
    Http {
        method: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url}: {status}{detail}")]
    Status {
        method: String,
        url: String,
        status: reqwest::StatusCode,
        /// The registry's own error text, with a leading `: `, or empty.
        detail: String,
    },
    #[error("{host}: unauthorized{detail}")]
    Unauthorized { host: String, detail: String },
    #[error("fetching a token from {realm}: {detail}")]
    Token { realm: String, detail: String },
    #[error("{realm} refused the credentials: {status}")]
    TokenRefused {
        realm: String,
        status: reqwest::StatusCode,
    },
    #[error("manifest for {0} not found")]
    ManifestNotFound(String),
    #[error("no matching manifest for {wanted} in the manifest list of {reference} (it has {available})")]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error("{what} failed verification: expected digest {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{what} is larger than the {expected} bytes its descriptor declares")]
    TooLarge { what: String, expected: u64 },
    #[error("layer {index} unpacks to {actual}, but the image config says {expected}")]
    DiffIdMismatch {
        index: usize,
        expected: Digest,
        actual: Digest,
    },
    #[error("the manifest has {layers} layers but the config lists {diff_ids} diff_ids")]
    LayerCount { layers: usize, diff_ids: usize },
    #[error("unpacking layer {digest}")]
    Apply {
        digest: Digest,
        #[source]
        source: ApplyError,
    },
    #[error("reading layer {digest}")]
    Read {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("registry {host} did not {what} within {}", humantime::format_duration(*after))]
    Timeout {
        host: String,
        what: String,
        after: std::time::Duration,
    },
    #[error(transparent)]
    Transfer(#[from] transfer::TransferError),
    #[error("{0}")]
    Protocol(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),
    #[error(transparent)]
    Platform(#[from] platform::PlatformError),
    #[error(transparent)]
    Store(Box<StoreError>),
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        // Boxed: StoreError is large, and every Result here would carry it.
        RegistryError::Store(Box::new(e))
    }
}
