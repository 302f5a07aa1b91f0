//! kiln's configuration file: `--config FILE`, `KILN_CONFIG`, else
//! `/etc/kiln/config.toml`. Its registry keys are buildkitd.toml's, so a
//! BuildKit user's file carries over; keys kiln does not use (`[worker.*]`,
//! `ca`, `keypair`, …) are ignored rather than refused for the same reason.
//!
//! ```toml
//! [registry."docker.io"]
//! mirrors = ["127.0.0.1:5000"]
//! [registry."127.0.0.1:5000"]
//! http = true        # plain HTTP
//! insecure = true    # skip TLS verification
//! [history]
//! maxEntries = 50    # builds kept for `kiln build history`
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use anyhow::Context;
use kiln_cache::registry::{CredentialsFile, HostConfig, RegistryConfig, Timeouts};
use serde::Deserialize;

use crate::globals::Globals;

const DEFAULT_PATH: &str = "/etc/kiln/config.toml";

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    registry: BTreeMap<String, RegistryEntry>,
    #[serde(default)]
    history: HistoryEntry,
}

/// buildkitd.toml's `[history]` (its `maxAge` is not kept: records go
/// with `kiln cache prune`).
#[derive(Debug, Default, Deserialize)]
struct HistoryEntry {
    #[serde(rename = "maxEntries")]
    max_entries: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
struct RegistryEntry {
    #[serde(default)]
    mirrors: Vec<String>,
    http: Option<bool>,
    #[serde(default)]
    insecure: bool,
}

/// The registry settings and Docker credentials a pull or push uses.
pub fn registry_config(globals: &Globals) -> anyhow::Result<RegistryConfig> {
    let hosts = match &globals.config {
        Some(path) => read(path)?.with_context(|| format!("{} does not exist", path.display()))?,
        None => read(Path::new(DEFAULT_PATH))?.unwrap_or_default(),
    };
    let credentials = CredentialsFile::load_default()?;
    Ok(RegistryConfig {
        hosts,
        credentials,
        timeouts: timeouts()?,
    })
}

/// How many build records to keep (`[history] maxEntries`, default 50).
pub fn history_entries(globals: &Globals) -> anyhow::Result<usize> {
    let path = globals.config.as_deref().unwrap_or(Path::new(DEFAULT_PATH));
    let file = match std::fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str::<File>(&text).with_context(|| format!("in {}", path.display()))?
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => File::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(file
        .history
        .max_entries
        .unwrap_or(kiln_solver::record::store::DEFAULT_KEEP))
}

/// `KILN_REGISTRY_CONNECT_TIMEOUT` and `KILN_REGISTRY_READ_TIMEOUT` (`30s`,
/// `2m`, `500ms`; a bare number is seconds): how long a registry may stay
/// silent before a pull or push gives up on it (defaults 30s and 60s).
fn timeouts() -> anyhow::Result<Timeouts> {
    const CONNECT: &str = "KILN_REGISTRY_CONNECT_TIMEOUT";
    const READ: &str = "KILN_REGISTRY_READ_TIMEOUT";
    let connect = std::env::var(CONNECT).ok();
    let read = std::env::var(READ).ok();
    Ok(Timeouts::with(
        connect.as_deref().map(|v| (CONNECT, v)),
        read.as_deref().map(|v| (READ, v)),
    )?)
}

/// The file's registry table; `None` when the file does not exist.
fn read(path: &Path) -> anyhow::Result<Option<BTreeMap<String, HostConfig>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(Some(
        parse(&text).with_context(|| format!("in {}", path.display()))?,
    ))
}

fn parse(text: &str) -> anyhow::Result<BTreeMap<String, HostConfig>> {
    let file: File = toml::from_str(text)?;
    Ok(file
        .registry
        .into_iter()
        .map(|(host, e)| {
            let host_config = HostConfig {
                mirrors: e.mirrors,
                http: e.http,
                insecure: e.insecure,
            };
            (host, host_config)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_buildkitd_registry_keys_and_ignores_the_rest() {
        let hosts = parse(
            r#"
            debug = true
            [worker.oci]
            enabled = true
            [registry."docker.io"]
            mirrors = ["127.0.0.1:5000", "mirror.gcr.io"]
            [registry."127.0.0.1:5000"]
            http = true
            insecure = true
            ca = ["/etc/certs/ca.pem"]
            "#,
        )
        .unwrap();
        assert_eq!(
            hosts["docker.io"].mirrors,
            ["127.0.0.1:5000", "mirror.gcr.io"]
        );
        assert_eq!(hosts["docker.io"].http, None);
        assert_eq!(hosts["127.0.0.1:5000"].http, Some(true));
        assert!(hosts["127.0.0.1:5000"].insecure);
    }

    #[test]
    fn history_keeps_buildkitd_max_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let globals = |config: &Path| Globals {
            root: dir.path().into(),
            debug: false,
            config: Some(config.into()),
            no_process_sandbox: false,
        };
        assert_eq!(history_entries(&globals(&path)).unwrap(), 50);
        std::fs::write(&path, "[history]\nmaxEntries = 3\nmaxAge = 100\n").unwrap();
        assert_eq!(history_entries(&globals(&path)).unwrap(), 3);
    }

    #[test]
    fn type_errors_are_reported() {
        let err = parse("[registry.\"x\"]\nhttp = \"yes\"").unwrap_err();
        assert!(format!("{err:#}").contains("invalid type"), "{err:#}");
    }
}
