//! The one JSON encoding kiln hashes: compact, keys sorted at every level.
//! oci-spec keeps labels, annotations and port sets in HashMaps, whose order
//! changes from run to run; a config or manifest digest must not.

use serde::Serialize;
use serde_json::{Map, Value};

/// Serialises `value` compactly with every object's keys sorted.
pub fn canonical<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let value = sorted(serde_json::to_value(value)?);
    serde_json::to_vec(&value)
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k, sorted(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn hash_maps_encode_the_same_every_time() {
        let mut first = None;
        for _ in 0..20 {
            let map: HashMap<String, u32> = (0..30).map(|i| (format!("k{i}"), i)).collect();
            let bytes = canonical(&serde_json::json!({ "z": 1, "labels": map })).unwrap();
            assert!(bytes.starts_with(b"{\"labels\":{\"k0\":0,\"k1\":1,\"k10\":10"));
            if let Some(f) = &first {
                assert_eq!(f, &bytes);
            }
            first = Some(bytes);
        }
    }
}
