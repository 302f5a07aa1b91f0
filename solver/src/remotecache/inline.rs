//! `type=inline`: the cache config inside the built image's config, under
//! `kiln.cache.v1` (BuildKit uses `moby.buildkit.cache.v0`), so pushing
//! the image ships its cache and `--cache-from type=registry,ref=IMAGE`
//! reads it back. Only the result's own steps fit (`mode=min`); the layers
//! are the image's, so the inline config names them by diff_id and the
//! image's manifest and `rootfs.diff_ids` say where each one is.

use kiln_cache::image::ImageConfig;
use serde_json::Value;

use super::format::{CacheConfig, CacheLayer, INLINE_KEY};
use super::CacheError;

/// Puts `cache` (records and results; no layer list) into `config`.
pub fn embed(config: &mut ImageConfig, cache: &CacheConfig) -> Result<(), CacheError> {
    let mut cache = cache.clone();
    cache.layers.clear();
    let value = serde_json::to_value(&cache).map_err(CacheError::EncodeInline)?;
    config.doc[INLINE_KEY] = value;
    Ok(())
}

/// The inline cache of an image config, its layers taken from the
/// manifest's `layers` in `rootfs.diff_ids` order; `None` without one.
pub fn extract(
    config: &[u8],
    manifest_layers: &[Value],
) -> Result<Option<CacheConfig>, CacheError> {
    let doc: Value = serde_json::from_slice(config).map_err(CacheError::Inline)?;
    let Some(inline) = doc.get(INLINE_KEY) else {
        return Ok(None);
    };
    let mut cache: CacheConfig =
        serde_json::from_value(inline.clone()).map_err(CacheError::Inline)?;
    let diff_ids = doc["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if diff_ids.len() != manifest_layers.len() {
        return Err(CacheError::InlineLayerCount);
    }
    cache.layers = diff_ids
        .iter()
        .zip(manifest_layers)
        .filter_map(|(d, l)| {
            Some(CacheLayer {
                diff_id: d.as_str()?.to_string(),
                media_type: l["mediaType"].as_str()?.to_string(),
                digest: l["digest"].as_str()?.to_string(),
                size: l["size"].as_u64()?,
            })
        })
        .collect();
    Ok(Some(cache))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remotecache::format::{CacheEntry, VERSION};
    use serde_json::json;

    #[test]
    fn inline_cache_round_trips_through_a_config_and_its_manifest() {
        let mut config = ImageConfig::scratch("amd64");
        let cache = CacheConfig {
            version: VERSION,
            records: vec![CacheEntry {
                key: "k1".into(),
                parent: "scratch".into(),
                description: "[1/2] COPY a /a".into(),
                ingredients: Vec::new(),
                diff_id: Some(format!("sha256:{}", "1".repeat(64))),
            }],
            ..CacheConfig::default()
        };
        embed(&mut config, &cache).unwrap();
        config.finish(
            vec![format!("sha256:{}", "1".repeat(64))],
            "2024-01-01T00:00:00Z",
        );
        let bytes = serde_json::to_vec(&config.doc).unwrap();
        let layers = [
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{}", "2".repeat(64)), "size": 7}),
        ];
        let back = extract(&bytes, &layers).unwrap().unwrap();
        assert_eq!(back.records, cache.records);
        assert_eq!(back.layers.len(), 1);
        assert_eq!(back.layers[0].size, 7);
        assert_eq!(back.layers[0].digest, format!("sha256:{}", "2".repeat(64)));
        let plain = serde_json::to_vec(&ImageConfig::scratch("amd64").doc).unwrap();
        assert!(extract(&plain, &[]).unwrap().is_none());
    }
}
