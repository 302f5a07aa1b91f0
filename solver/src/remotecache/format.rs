//! The cache config: kiln's remote cache format (ARCHITECTURE.md, "Remote
//! cache format"). One JSON document maps step cache keys to the layer
//! each step made, with the step's parent key and ingredients, so another
//! machine's build can take a step from it by key alone.

use kiln_cache::Ingredient;
use serde::{Deserialize, Serialize};

/// The cache config's media type (a manifest's `config.mediaType`).
pub const CACHE_CONFIG_MEDIA_TYPE: &str = "application/vnd.kiln.cache.config.v1+json";
/// The image config key that holds an inline cache config.
pub const INLINE_KEY: &str = "kiln.cache.v1";
pub const VERSION: u32 = 1;
/// A cache mount's blob in the cache manifest.
pub const CACHE_MOUNT_MEDIA_TYPE: &str = "application/vnd.kiln.cachemount.v1.tar+zstd";
/// The manifest annotation naming a cache mount blob's id.
pub const CACHE_MOUNT_ID_ANNOTATION: &str = "org.kiln.cachemount.id";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    pub version: u32,
    /// One per exported step, in build order.
    pub records: Vec<CacheEntry>,
    /// The layers the records name, by diff_id. Empty inline: the image's
    /// own manifest and `rootfs.diff_ids` describe them there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<CacheLayer>,
    /// Finished images: the `created` time a fully cached build reuses, so
    /// the same inputs give the same image digest on another machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<CacheResult>,
    /// `RUN --mount=type=cache` contents, one blob per mount id
    /// (`cache-mounts=true`).
    #[serde(default, rename = "cacheMounts", skip_serializing_if = "Vec::is_empty")]
    pub cache_mounts: Vec<CacheMountBlob>,
}

/// One cache mount's content: a tar (as a layer is written) in zstd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheMountBlob {
    /// The mount's `id=` (its target when none was given).
    pub id: String,
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheEntry {
    /// The step's cache key (blake3 hex over its ingredients).
    pub key: String,
    /// The key the step chains from: the previous step, a stage's final
    /// key, `image:<manifest digest>` or `scratch`.
    pub parent: String,
    pub description: String,
    pub ingredients: Vec<Ingredient>,
    /// The layer the step made (an empty one when it changed nothing);
    /// `None` in records made before every step had a layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheLayer {
    pub diff_id: String,
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheResult {
    /// The target stage's final key.
    pub key: String,
    pub created: String,
}
