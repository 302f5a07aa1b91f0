//! Image configs: the document whose digest is the image ID. Built and read
//! with oci-spec's `ImageConfiguration`; the bytes stored are the bytes
//! hashed, so a config loaded from elsewhere keeps fields oci-spec does not
//! know (Docker's `container_config`, `Healthcheck`, …) untouched.

use std::time::SystemTime;

use oci_spec::image::{
    Arch, Config, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os, RootFsBuilder,
};
use serde_json::{Map, Value};

use crate::digest::Digest;

use super::document::ImageConfig;
use super::json;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid image config")]
    Parse(#[source] serde_json::Error),
    #[error("building image config: {0}")]
    Build(String),
    #[error("encoding image config")]
    Encode(#[source] serde_json::Error),
}

/// A config and its exact bytes.
#[derive(Debug, Clone)]
pub struct ConfigBlob {
    pub config: ImageConfiguration,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

/// The `config` keys oci-spec's `Config` models; the others (Docker's
/// `Healthcheck`, `Shell` …) are kept beside them as stored.
pub const OCI_CONFIG_KEYS: [&str; 9] = [
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
];

impl ConfigBlob {
    /// Parses stored or received bytes, keeping them as they are.
    pub fn parse(bytes: Vec<u8>) -> Result<ConfigBlob, ConfigError> {
        let config: ImageConfiguration =
            serde_json::from_slice(&bytes).map_err(ConfigError::Parse)?;
        Ok(ConfigBlob {
            digest: Digest::of_bytes(&bytes),
            config,
            bytes,
        })
    }

    /// Encodes a config kiln made. `docker_extras` are keys Docker keeps in
    /// `config` that the OCI spec lacks (`Healthcheck`, `Shell`, `OnBuild`,
    /// `ArgsEscaped`); the solver passes them for HEALTHCHECK, SHELL, ONBUILD.
    pub fn encode(
        config: ImageConfiguration,
        docker_extras: &Map<String, Value>,
    ) -> Result<ConfigBlob, ConfigError> {
        let mut value = serde_json::to_value(&config).map_err(ConfigError::Encode)?;
        if !docker_extras.is_empty() {
            if let Value::Object(top) = &mut value {
                let inner = top
                    .entry("config")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(inner) = inner {
                    inner.extend(docker_extras.clone());
                }
            }
        }
        let bytes = json::canonical(&value).map_err(ConfigError::Encode)?;
        Ok(ConfigBlob {
            digest: Digest::of_bytes(&bytes),
            config,
            bytes,
        })
    }

    /// The editable document these bytes hold, every field kept.
    pub fn document(&self) -> Result<ImageConfig, ConfigError> {
        ImageConfig::parse(&self.bytes)
    }

    /// The image ID, as `docker images --no-trunc` shows it.
    pub fn image_id(&self) -> Digest {
        self.digest
    }

    /// `config` keys outside the OCI spec, as stored (see `encode`).
    pub fn docker_extras(&self) -> Map<String, Value> {
        let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(&self.bytes) else {
            return Map::new();
        };
        match top.remove("config") {
            Some(Value::Object(inner)) => inner
                .into_iter()
                .filter(|(k, _)| !OCI_CONFIG_KEYS.contains(&k.as_str()))
                .collect(),
            _ => Map::new(),
        }
    }
}

/// RFC 3339 in UTC with seconds, as Docker writes `created`.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The config `docker import` makes: one layer, the host's platform, the
/// `--change` settings, and one history entry saying where it came from.
pub fn import_config(
    diff_id: &Digest,
    created: SystemTime,
    settings: Option<Config>,
    source: &str,
    message: Option<&str>,
) -> Result<ImageConfiguration, ConfigError> {
    let build_err = |e: oci_spec::OciSpecError| ConfigError::Build(e.to_string());
    let created = timestamp(created);
    let comment = message.map_or_else(|| format!("Imported from {source}"), str::to_string);
    let history = HistoryBuilder::default()
        .created(created.clone())
        .created_by(String::new())
        .comment(comment)
        .build()
        .map_err(build_err)?;
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(vec![diff_id.to_string()])
        .build()
        .map_err(build_err)?;
    let mut builder = ImageConfigurationBuilder::default()
        .created(created)
        .architecture(Arch::default())
        .os(Os::default())
        .rootfs(rootfs)
        .history(vec![history]);
    if let Some(settings) = settings {
        builder = builder.config(settings);
    }
    builder.build().map_err(build_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ConfigBuilder;
    use std::time::{Duration, UNIX_EPOCH};

    fn diff_id() -> Digest {
        Digest::of_bytes(b"layer")
    }

    #[test]
    fn import_config_is_stable_and_names_its_source() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let labels: std::collections::HashMap<String, String> = (0..10)
            .map(|i| (format!("l{i}"), "v".to_string()))
            .collect();
        let settings = ConfigBuilder::default()
            .cmd(vec!["sh".to_string()])
            .labels(labels)
            .exposed_ports(vec!["80/tcp".to_string(), "53/udp".to_string()])
            .build()
            .unwrap();
        let a = import_config(&diff_id(), t, Some(settings.clone()), "-", None).unwrap();
        let b = import_config(&diff_id(), t, Some(settings), "-", None).unwrap();
        let a = ConfigBlob::encode(a, &Map::new()).unwrap();
        let b = ConfigBlob::encode(b, &Map::new()).unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.image_id(), Digest::of_bytes(&a.bytes));
        let text = String::from_utf8(a.bytes).unwrap();
        assert!(
            text.contains("\"created\":\"2023-11-14T22:13:20Z\""),
            "{text}"
        );
        assert!(text.contains("\"comment\":\"Imported from -\""));
        assert!(text.contains(&format!("\"diff_ids\":[\"{}\"]", diff_id())));
        assert!(text.contains("\"ExposedPorts\":{\"53/udp\":{},\"80/tcp\":{}}"));
    }

    #[test]
    fn parsed_configs_keep_their_bytes_and_docker_fields() {
        let raw = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Healthcheck":{"Test":["NONE"]}},"rootfs":{"type":"layers","diff_ids":[]},"container_config":{}}"#;
        let blob = ConfigBlob::parse(raw.to_vec()).unwrap();
        assert_eq!(blob.bytes, raw.to_vec());
        assert_eq!(blob.digest, Digest::of_bytes(raw));
        let extras = blob.docker_extras();
        assert_eq!(extras.keys().collect::<Vec<_>>(), vec!["Healthcheck"]);
        let again = ConfigBlob::encode(blob.config.clone(), &extras).unwrap();
        assert!(String::from_utf8(again.bytes)
            .unwrap()
            .contains("\"Healthcheck\":{\"Test\":[\"NONE\"]}"));
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(matches!(
            ConfigBlob::parse(b"{\"os\":".to_vec()),
            Err(ConfigError::Parse(_))
        ));
    }
}
