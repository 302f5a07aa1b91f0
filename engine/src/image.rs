//! Images as containers see them: found in the store by reference, with
//! their layer directories and the config that cache stores (the one image
//! config type: oci-spec's `ImageConfiguration` as `ConfigBlob` parses it).

use std::path::PathBuf;
use std::sync::Arc;

use kiln_cache::image::config::ConfigBlob;
use kiln_cache::store::Store;
use oci_spec::image::{Config, ImageConfiguration};
use serde_json::{Map, Value};

use crate::{Engine, Error};

/// An image a container is made from: an empty one for `--rootfs`.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// The store that leased the layers, kept open as long as this is:
    /// a collection spares them until the container's record holds them
    /// (it reads leases before holds).
    pub lease: Lease,
    /// The image ID (`sha256:…`); empty for none.
    pub id: String,
    /// Layer directories, the top layer first (overlay's lower order).
    pub lowers: Vec<PathBuf>,
    pub config: ImageConfiguration,
    /// Docker's `config.Healthcheck` (HEALTHCHECK), which the OCI config
    /// lacks.
    pub healthcheck: Option<Value>,
}

impl Engine {
    /// Looks `reference` up in the store. The store leases what it returns,
    /// so the layers stay until this process exits or a container holds
    /// them.
    pub fn resolve_image(&self, reference: &str) -> Result<Image, Error> {
        let store = Arc::new(Store::open(self.root()).map_err(Error::OpenStore)?);
        let entry = store.resolve_image(reference)?;
        let blob =
            ConfigBlob::parse(store.image_config(&entry.image)?).map_err(Error::ImageConfig)?;
        let mut lowers = store.image_layer_dirs(&entry.image);
        lowers.reverse();
        Ok(Image {
            lease: Lease(Some(store)),
            id: entry.image.id().to_string(),
            lowers,
            healthcheck: blob
                .docker_extras()
                .remove("Healthcheck")
                .filter(|v| !v.is_null()),
            config: blob.config,
        })
    }
}

/// An open store and so its process's lease on what it resolved.
#[derive(Clone, Default)]
pub struct Lease(Option<Arc<Store>>);

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Lease" } else { "NoLease" })
    }
}

/// Docker's container defaults from the config's `config` section; an
/// absent field is empty.
impl Image {
    fn settings(&self) -> Option<&Config> {
        self.config.config().as_ref()
    }

    fn words(&self, field: fn(&Config) -> &Option<Vec<String>>) -> Vec<String> {
        self.settings()
            .and_then(|c| field(c).clone())
            .unwrap_or_default()
    }

    fn text(&self, field: fn(&Config) -> &Option<String>) -> &str {
        self.settings()
            .and_then(|c| field(c).as_deref())
            .unwrap_or("")
    }

    /// Map keys in sorted order, as the JSON object reads: oci-spec keeps
    /// them in a HashMap's order.
    fn sorted(&self, field: fn(&Config) -> &Option<Vec<String>>) -> Vec<String> {
        let mut keys = self.words(field);
        keys.sort();
        keys
    }

    pub fn entrypoint(&self) -> Vec<String> {
        self.words(Config::entrypoint)
    }

    pub fn cmd(&self) -> Vec<String> {
        self.words(Config::cmd)
    }

    pub fn env(&self) -> Vec<String> {
        self.words(Config::env)
    }

    pub fn workdir(&self) -> &str {
        self.text(Config::working_dir)
    }

    pub fn user(&self) -> &str {
        self.text(Config::user)
    }

    pub fn stop_signal(&self) -> &str {
        self.text(Config::stop_signal)
    }

    /// VOLUME paths.
    pub fn volumes(&self) -> Vec<String> {
        self.sorted(Config::volumes)
    }

    /// EXPOSEd ports (`80/tcp`).
    pub fn exposed_ports(&self) -> Vec<String> {
        self.sorted(Config::exposed_ports)
    }

    pub fn labels(&self) -> Map<String, Value> {
        self.settings()
            .and_then(|c| c.labels().as_ref())
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(json: &str) -> Image {
        let raw = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{json}}}"#
        );
        let blob = ConfigBlob::parse(raw.into_bytes()).unwrap();
        Image {
            config: blob.config,
            ..Image::default()
        }
    }

    #[test]
    fn settings_are_read_from_the_config_section() {
        let i = image(
            r#"{"Entrypoint":["/e"],"Cmd":["a","b"],"Env":["A=1"],"WorkingDir":"/w",
                "User":"u:g","StopSignal":"SIGINT","Labels":{"z":"1","a":"2"}}"#,
        );
        assert_eq!(i.entrypoint(), ["/e"]);
        assert_eq!(i.cmd(), ["a", "b"]);
        assert_eq!(i.env(), ["A=1"]);
        assert_eq!(
            (i.workdir(), i.user(), i.stop_signal()),
            ("/w", "u:g", "SIGINT")
        );
        let labels: Vec<_> = i.labels().into_iter().collect();
        assert_eq!(labels[0], ("a".to_string(), Value::String("2".into())));
    }

    #[test]
    fn volumes_and_ports_come_sorted() {
        let i = image(
            r#"{"Volumes":{"/z":{},"/a":{},"/m":{}},"ExposedPorts":{"80/tcp":{},"53/udp":{},"443/tcp":{}}}"#,
        );
        assert_eq!(i.volumes(), ["/a", "/m", "/z"]);
        assert_eq!(i.exposed_ports(), ["443/tcp", "53/udp", "80/tcp"]);
    }

    #[test]
    fn an_absent_config_is_empty() {
        let i = Image::default();
        assert!(i.entrypoint().is_empty() && i.cmd().is_empty() && i.env().is_empty());
        assert_eq!((i.workdir(), i.user(), i.stop_signal()), ("", "", ""));
        assert!(i.volumes().is_empty() && i.exposed_ports().is_empty());
        assert!(i.labels().is_empty());
        let i = image("null");
        assert!(i.cmd().is_empty());
    }
}
