//! Volumes: `<root>/volumes/<name>/_data` with `volume.json` beside it.
//! A new volume is filled from the image's content at its mount path
//! ([`seed`]), as Docker does; a bind mount never is. Which containers use
//! a volume is read from their records by the caller, so a volume stays
//! while any container names it.

pub mod seed;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("no such volume: {0}")]
    NotFound(String),
    #[error("invalid volume name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    #[error("volume {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

type Result<T> = std::result::Result<T, Error>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub created: String,
    /// Made for one container (`-v /path`, `VOLUME`): `rm -v` removes it.
    pub anonymous: bool,
    /// Filled from an image already (done once, at first use).
    pub seeded: bool,
    /// `volume create --label`; what `volume prune --filter label=…` reads.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

/// `<root>/volumes`.
#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn new(dir: impl Into<PathBuf>) -> Volumes {
        Volumes { dir: dir.into() }
    }

    /// The volume `name`, created when absent.
    pub fn ensure(&self, name: &str, anonymous: bool, created: &str) -> Result<Volume> {
        self.ensure_labeled(name, anonymous, created, BTreeMap::new())
    }

    /// [`Volumes::ensure`] giving a new volume `labels` (an existing one
    /// keeps its own, as Docker's `volume create` of a taken name does).
    pub fn ensure_labeled(
        &self,
        name: &str,
        anonymous: bool,
        created: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<Volume> {
        check_name(name)?;
        if let Ok(v) = self.get(name) {
            return Ok(v);
        }
        let dir = self.dir.join(name);
        let data = dir.join("_data");
        std::fs::create_dir_all(&data).map_err(io_err("creating", &data))?;
        let v = Volume {
            name: name.into(),
            created: created.into(),
            anonymous,
            seeded: false,
            labels,
            mountpoint: data,
        };
        self.save(&v)?;
        Ok(v)
    }

    fn save(&self, v: &Volume) -> Result<()> {
        let path = self.dir.join(&v.name).join("volume.json");
        let bytes = serde_json::to_vec_pretty(v).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(io_err("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("renaming", &path))
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        let dir = self.dir.join(name);
        let path = dir.join("volume.json");
        let bytes = std::fs::read(&path).map_err(|_| Error::NotFound(name.into()))?;
        let mut v: Volume = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        v.mountpoint = dir.join("_data");
        Ok(v)
    }

    pub fn list(&self) -> Result<Vec<Volume>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut all: Vec<Volume> = entries
            .flatten()
            .filter_map(|e| self.get(&e.file_name().to_string_lossy()).ok())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Copies the image's content at the mount path into a volume that has
    /// not been seeded yet and is still empty (Docker's copy-up).
    pub fn seed(&self, name: &str, lowers: &[PathBuf], path: &str) -> Result<()> {
        let mut v = self.get(name)?;
        if v.seeded {
            return Ok(());
        }
        let empty = std::fs::read_dir(&v.mountpoint)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if empty {
            seed::copy_merged(lowers, Path::new(path), &v.mountpoint)
                .map_err(io_err("seeding", &v.mountpoint))?;
        }
        v.seeded = true;
        self.save(&v)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        let dir = self.dir.join(name);
        if !dir.join("volume.json").exists() {
            return Err(Error::NotFound(name.into()));
        }
        std::fs::remove_dir_all(&dir).map_err(io_err("removing", &dir))
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadName(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_seed_once_and_remove() {
        let root = tempfile::tempdir().unwrap();
        let layer = root.path().join("layer");
        std::fs::create_dir_all(layer.join("data")).unwrap();
        std::fs::write(layer.join("data/seed.txt"), "from image").unwrap();
        let vols = Volumes::new(root.path().join("volumes"));
        let v = vols.ensure("cache", false, "now").unwrap();
        vols.seed("cache", std::slice::from_ref(&layer), "/data")
            .unwrap();
        let seeded = v.mountpoint.join("seed.txt");
        assert_eq!(std::fs::read_to_string(&seeded).unwrap(), "from image");
        std::fs::remove_file(&seeded).unwrap();
        vols.seed("cache", &[layer], "/data").unwrap();
        assert!(!seeded.exists(), "a volume is seeded once only");
        assert_eq!(vols.list().unwrap().len(), 1);
        vols.remove("cache").unwrap();
        assert!(matches!(vols.get("cache"), Err(Error::NotFound(_))));
        assert!(vols.ensure("../x", false, "now").is_err());
    }
}
