//! The image config as a build edits it: the whole document kept as
//! `serde_json::Value`, so fields Docker keeps outside the OCI spec
//! (`Healthcheck`, `Shell`, `OnBuild`, `ArgsEscaped`) and fields of a base
//! image kiln does not know pass through untouched. [`ConfigBlob`] is the
//! same config once stored: exact bytes, digest and oci-spec's typed view.

use serde_json::{json, Map, Value};

use super::config::{ConfigBlob, ConfigError};
use super::json::canonical;

/// BuildKit's default PATH for Linux images without one (`system.DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A whole config document (`architecture`, `os`, `config`, `rootfs`, `history`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    pub doc: Value,
}

impl ImageConfig {
    /// `FROM scratch`: BuildKit's empty image, with PATH and `WorkingDir` "/".
    pub fn scratch(arch: &str) -> ImageConfig {
        ImageConfig {
            doc: json!({
                "architecture": arch,
                "os": "linux",
                "config": {"Env": [format!("PATH={DEFAULT_PATH}")], "WorkingDir": "/"},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }),
        }
    }

    /// A placeholder holding nothing (a config moved elsewhere).
    pub fn empty() -> ImageConfig {
        ImageConfig { doc: Value::Null }
    }

    /// A base image's config; BuildKit adds the default PATH when it has none.
    pub fn from_base(bytes: &[u8]) -> Result<ImageConfig, serde_json::Error> {
        let mut doc: Value = serde_json::from_slice(bytes)?;
        if !doc.is_object() {
            doc = json!({});
        }
        let mut c = ImageConfig { doc };
        if !c.env().iter().any(|(k, _)| k == "PATH") {
            c.set_env("PATH", DEFAULT_PATH);
        }
        Ok(c)
    }

    /// A stored document as it is, without the defaults `from_base` adds.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, ConfigError> {
        let doc = serde_json::from_slice(bytes).map_err(ConfigError::Parse)?;
        Ok(ImageConfig { doc })
    }

    /// The document encoded as kiln stores it (canonical JSON), checked
    /// against the OCI config schema.
    pub fn to_blob(&self) -> Result<ConfigBlob, ConfigError> {
        let bytes = canonical(&self.doc).map_err(ConfigError::Encode)?;
        ConfigBlob::parse(bytes)
    }

    /// The `config` object, created when missing.
    pub fn config_mut(&mut self) -> &mut Map<String, Value> {
        let top = match &mut self.doc {
            Value::Object(m) => m,
            other => {
                *other = json!({});
                match other {
                    Value::Object(m) => m,
                    _ => unreachable!("just made an object"),
                }
            }
        };
        let inner = top.entry("config").or_insert_with(|| json!({}));
        if !inner.is_object() {
            *inner = json!({});
        }
        match inner {
            Value::Object(m) => m,
            _ => unreachable!("checked above"),
        }
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.doc.get("config")?.get(field).filter(|v| !v.is_null())
    }

    pub fn set(&mut self, field: &str, value: Value) {
        self.config_mut().insert(field.to_string(), value);
    }

    pub fn text(&self, field: &str) -> String {
        self.get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    pub fn strings(&self, field: &str) -> Option<Vec<String>> {
        let list = self.get(field)?.as_array()?;
        Some(
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )
    }

    /// `Env` as pairs, in order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.strings("Env")
            .unwrap_or_default()
            .into_iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e, String::new()),
            })
            .collect()
    }

    /// Sets one variable, keeping its place when it exists (Docker's order).
    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => env.push((key.to_string(), value.to_string())),
        }
        let list: Vec<Value> = env
            .into_iter()
            .map(|(k, v)| Value::String(format!("{k}={v}")))
            .collect();
        self.set("Env", Value::Array(list));
    }

    /// Adds a key to an object-valued field (`ExposedPorts`, `Volumes`, `Labels`).
    pub fn insert_in(&mut self, field: &str, key: &str, value: Value) {
        let c = self.config_mut();
        let slot = c.entry(field.to_string()).or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        if let Value::Object(m) = slot {
            m.insert(key.to_string(), value);
        }
    }

    /// Appends a history entry, as BuildKit writes them.
    pub fn push_history(&mut self, created: &str, created_by: &str, empty_layer: bool) {
        let entry = history_entry(created, created_by, empty_layer);
        match self.doc.get_mut("history") {
            Some(Value::Array(h)) => h.push(entry),
            _ => self.doc["history"] = json!([entry]),
        }
    }

    /// Marks the history entry at `index` as having made no layer.
    pub fn mark_empty(&mut self, index: usize) {
        if let Some(Value::Array(h)) = self.doc.get_mut("history") {
            if let Some(entry) = h.get_mut(index) {
                entry["empty_layer"] = Value::Bool(true);
            }
        }
    }

    pub fn history_len(&self) -> usize {
        self.doc
            .get("history")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }

    /// Names the image's layers in `rootfs`.
    pub fn set_diff_ids(&mut self, diff_ids: Vec<String>) {
        self.doc["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    }

    /// Sets `rootfs.diff_ids` and `created`, finishing the document.
    pub fn finish(&mut self, diff_ids: Vec<String>, created: &str) {
        self.set_diff_ids(diff_ids);
        self.doc["created"] = Value::String(created.to_string());
        // Base images imported from elsewhere may carry Docker's legacy
        // container fields; BuildKit's images have neither.
        if let Value::Object(m) = &mut self.doc {
            m.remove("container_config");
            m.remove("container");
        }
    }
}

/// One history entry, as BuildKit writes them.
pub fn history_entry(created: &str, created_by: &str, empty_layer: bool) -> Value {
    let mut entry = json!({
        "created": created,
        "created_by": created_by,
        "comment": "buildkit.dockerfile.v0",
    });
    if empty_layer {
        entry["empty_layer"] = Value::Bool(true);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_has_path_and_root_workdir() {
        let c = ImageConfig::scratch("amd64");
        assert_eq!(c.env()[0].0, "PATH");
        assert_eq!(c.text("WorkingDir"), "/");
    }

    #[test]
    fn set_env_keeps_position_and_base_gets_path() {
        let mut c = ImageConfig::from_base(br#"{"config":{"Env":["A=1","B=2"]}}"#).unwrap();
        c.set_env("A", "3");
        let keys: Vec<_> = c
            .env()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(keys[..2], ["A=3".to_string(), "B=2".to_string()]);
        assert!(keys[2].starts_with("PATH="));
    }

    #[test]
    fn blob_and_document_round_trip_with_docker_fields() {
        let mut c = ImageConfig::scratch("amd64");
        c.set("Healthcheck", json!({"Test": ["NONE"]}));
        let blob = c.to_blob().unwrap();
        assert_eq!(blob.config.architecture().to_string(), "amd64");
        let again = blob.document().unwrap();
        assert_eq!(again, c);
        assert_eq!(again.to_blob().unwrap().digest, blob.digest);
    }

    #[test]
    fn a_document_outside_the_schema_is_no_blob() {
        let c = ImageConfig {
            doc: json!({"rootfs": 3}),
        };
        assert!(matches!(c.to_blob(), Err(ConfigError::Parse(_))));
    }

    #[test]
    fn history_marks_empty_layers() {
        let mut c = ImageConfig::scratch("amd64");
        c.push_history("t", "ENV A=1", true);
        c.push_history("t", "RUN x", false);
        assert_eq!(c.history_len(), 2);
        assert_eq!(c.doc["history"][0]["empty_layer"], true);
        assert!(c.doc["history"][1].get("empty_layer").is_none());
        c.mark_empty(1);
        assert_eq!(c.doc["history"][1]["empty_layer"], true);
    }
}
