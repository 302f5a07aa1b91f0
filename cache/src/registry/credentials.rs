//! Docker's `config.json` credentials, so `docker login` and `kiln login`
//! share them: `{"auths": {"host": {"auth": base64("user:password")}}}`.
//! Docker Hub's entry is keyed `https://index.docker.io/v1/`, as the Docker
//! CLI writes it. Credential helpers (`credsStore`, `credHelpers`) are not
//! run: kiln reads and writes only the file's own `auths`, and says so
//! (see [`CredentialsFile::helper_for`]).

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::config::DOCKER_HUB;

const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("reading {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a valid Docker config file")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing {path}")]
    Write { path: PathBuf, source: io::Error },
    #[error("no Docker config file location: set DOCKER_CONFIG or HOME")]
    NoLocation,
}

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

/// A Docker config file, as read; unknown keys are kept when written back.
#[derive(Debug, Clone, Default)]
pub struct CredentialsFile {
    path: Option<PathBuf>,
    doc: Map<String, Value>,
}

impl CredentialsFile {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        let home = std::env::var_os("HOME").filter(|d| !d.is_empty())?;
        Some(PathBuf::from(home).join(".docker/config.json"))
    }

    /// Reads `path`; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<CredentialsFile, CredentialsError> {
        let doc = match fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| CredentialsError::Parse {
                    path: path.to_path_buf(),
                    source,
                })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Map::new(),
            Err(source) => {
                return Err(CredentialsError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(CredentialsFile {
            path: Some(path.to_path_buf()),
            doc,
        })
    }

    /// Reads the default location (empty when there is none).
    pub fn load_default() -> Result<CredentialsFile, CredentialsError> {
        match CredentialsFile::default_path() {
            Some(path) => CredentialsFile::load(&path),
            None => Ok(CredentialsFile::default()),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The stored credentials for `host`, matching keys however Docker
    /// tools spelled them (`https://host/v1/`, `http://host`, `host`).
    pub fn get(&self, host: &str) -> Option<Credentials> {
        let auths = self.doc.get("auths")?.as_object()?;
        let entry = auths
            .iter()
            .find(|(key, _)| normalize_key(key) == host)
            .map(|(_, v)| v)?;
        decode_entry(entry)
    }

    /// The credential helper Docker would use for `host`, which kiln does
    /// not run (its credentials then are not in this file).
    pub fn helper_for(&self, host: &str) -> Option<String> {
        let per_host = self
            .doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|m| m.iter().find(|(k, _)| normalize_key(k) == host))
            .and_then(|(_, v)| v.as_str());
        per_host
            .or_else(|| self.doc.get("credsStore").and_then(Value::as_str))
            .filter(|h| !h.is_empty())
            .map(str::to_string)
    }

    /// Stores credentials for `host` under the key Docker uses.
    pub fn set(&mut self, host: &str, creds: &Credentials) {
        self.remove(host);
        let auth = BASE64.encode(format!("{}:{}", creds.username, creds.password));
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Value::Object(auths) = auths {
            let mut entry = Map::new();
            entry.insert("auth".into(), Value::String(auth));
            auths.insert(file_key(host), Value::Object(entry));
        }
    }

    /// Forgets `host`'s credentials; false if there were none.
    pub fn remove(&mut self, host: &str) -> bool {
        let Some(Value::Object(auths)) = self.doc.get_mut("auths") else {
            return false;
        };
        let keys: Vec<String> = auths
            .keys()
            .filter(|k| normalize_key(k) == host)
            .cloned()
            .collect();
        for k in &keys {
            auths.remove(k);
        }
        !keys.is_empty()
    }

    /// Writes the file back (mode 0600, replaced atomically: a crash leaves
    /// the old file or the new one).
    pub fn save(&self) -> Result<(), CredentialsError> {
        let path = self.path.as_deref().ok_or(CredentialsError::NoLocation)?;
        let err = |source| CredentialsError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let mut bytes = serde_json::to_vec_pretty(&self.doc).map_err(|e| err(e.into()))?;
        bytes.push(b'\n');
        let tmp = path.with_extension(format!("json.kiln-{}", std::process::id()));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(err)?;
        fs::rename(&tmp, path).map_err(err)
    }
}

/// The key Docker writes for `host`.
fn file_key(host: &str) -> String {
    if host == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://h:5000/v2/` → `h:5000`.
fn normalize_key(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB,
        h => h,
    }
}

fn decode_entry(entry: &Value) -> Option<Credentials> {
    if let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let decoded = BASE64.decode(auth.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        return Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    let username = entry.get("username")?.as_str()?;
    let password = entry.get("password")?.as_str()?;
    Some(Credentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_written_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
                "http://127.0.0.1:5000/v2/":{"username":"a","password":"b"}},
               "credHelpers":{"gcr.io":"gcloud"},"detachKeys":"ctrl-q"}"#,
        )
        .unwrap();
        let file = CredentialsFile::load(&path).unwrap();
        let hub = file.get("docker.io").unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("user", "pa:ss")
        );
        assert_eq!(file.get("127.0.0.1:5000").unwrap().username, "a");
        assert_eq!(file.get("ghcr.io"), None);
        assert_eq!(file.helper_for("gcr.io").as_deref(), Some("gcloud"));
        assert_eq!(file.helper_for("ghcr.io"), None);
        assert!(!format!("{hub:?}").contains("pa:ss"));
    }

    #[test]
    fn writes_keep_other_keys_and_use_docker_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        let mut file = CredentialsFile::load(&path).unwrap();
        let creds = Credentials {
            username: "u".into(),
            password: "p".into(),
        };
        file.set("docker.io", &creds);
        file.set("127.0.0.1:5000", &creds);
        file.save().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"https://index.docker.io/v1/\""), "{text}");
        assert!(text.contains("\"auth\": \"dTpw\""), "{text}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut again = CredentialsFile::load(&path).unwrap();
        assert_eq!(again.get("127.0.0.1:5000"), Some(creds));
        assert!(again.remove("docker.io"));
        assert!(!again.remove("docker.io"));
        assert_eq!(again.get("docker.io"), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            CredentialsFile::load(&path),
            Err(CredentialsError::Parse { .. })
        ));
        fs::write(&path, r#"{"auths":{"h":{"auth":"%%%"}}}"#).unwrap();
        assert_eq!(CredentialsFile::load(&path).unwrap().get("h"), None);
    }
}
