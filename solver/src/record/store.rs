//! Where records live: `<root>/builds/history/<id>.json`, one file per
//! build, written atomically (a temporary name, then rename), the newest
//! `keep` kept. `kiln cache prune` removes them with the cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{unix_nanos, BuildRecord};

/// How many builds are kept when the configuration does not say
/// (BuildKit's `[history] maxEntries` default).
pub const DEFAULT_KEEP: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no build record {0:?} (kiln build history ls lists them)")]
    NotFound(String),
    #[error("build record prefix {0:?} names more than one build")]
    Ambiguous(String),
    #[error("no builds recorded yet")]
    Empty,
    #[error("build records in {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("build record {path}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The records of one root.
#[derive(Debug, Clone)]
pub struct RecordStore {
    dir: PathBuf,
}

impl RecordStore {
    pub fn new(root: &Path) -> RecordStore {
        RecordStore {
            dir: root.join("builds").join("history"),
        }
    }

    fn io(&self, source: std::io::Error) -> RecordError {
        RecordError::Io {
            path: self.dir.clone(),
            source,
        }
    }

    /// Writes `record` and drops the oldest beyond `keep`.
    pub fn save(&self, record: &BuildRecord, keep: usize) -> Result<(), RecordError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        let path = self.dir.join(format!("{}.json", record.id));
        let bytes = serde_json::to_vec_pretty(record).map_err(|source| RecordError::Json {
            path: path.clone(),
            source,
        })?;
        let tmp = self
            .dir
            .join(format!(".{}.{}", record.id, std::process::id()));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| self.io(e))?;
        for old in self.by_age()?.iter().skip(keep) {
            match std::fs::remove_file(old) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(self.io(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// The record files, newest first by modification time: a build's
    /// save looks at no record's content (a record of 20,000 steps is
    /// megabytes).
    fn by_age(&self) -> Result<Vec<PathBuf>, RecordError> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| self.io(e))? {
            let entry = entry.map_err(|e| self.io(e))?;
            let path = entry.path();
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if path.extension().is_some_and(|x| x == "json") {
                files.push((modified, path));
            }
        }
        files.sort_by(|a, b| b.cmp(a));
        Ok(files.into_iter().map(|(_, p)| p).collect())
    }

    /// Every record, newest first. An unreadable file is skipped: it is
    /// one being written, or one from a kiln that wrote another shape.
    pub fn list(&self) -> Result<Vec<BuildRecord>, RecordError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| self.io(e))?.path();
            if path.extension().is_some_and(|x| x == "json") {
                if let Ok(r) = read(&path) {
                    out.push(r);
                }
            }
        }
        out.sort_by(|a, b| (b.started, &b.id).cmp(&(a.started, &a.id)));
        Ok(out)
    }

    /// The record whose ID is or starts with `id`.
    pub fn get(&self, id: &str) -> Result<BuildRecord, RecordError> {
        let exact = self.dir.join(format!("{id}.json"));
        if valid_id(id) && exact.exists() {
            return read(&exact);
        }
        let mut found = self.list()?.into_iter().filter(|r| r.id.starts_with(id));
        match (found.next(), found.next()) {
            (Some(r), None) if !id.is_empty() => Ok(r),
            (Some(_), Some(_)) => Err(RecordError::Ambiguous(id.to_string())),
            _ => Err(RecordError::NotFound(id.to_string())),
        }
    }

    /// The newest record.
    pub fn last(&self) -> Result<BuildRecord, RecordError> {
        self.list()?.into_iter().next().ok_or(RecordError::Empty)
    }

    /// Removes the record `id` names (an ID or a unique prefix); returns
    /// its full ID.
    pub fn remove(&self, id: &str) -> Result<String, RecordError> {
        let record = self.get(id)?;
        std::fs::remove_file(self.dir.join(format!("{}.json", record.id)))
            .map_err(|e| self.io(e))?;
        Ok(record.id)
    }

    /// Removes the records of builds that finished more than `older_than`
    /// ago (all of them for `None`); returns how many.
    pub fn prune(&self, older_than: Option<Duration>) -> Result<usize, RecordError> {
        let cutoff = older_than.map_or(u64::MAX, |d| {
            unix_nanos(SystemTime::now())
                .saturating_sub(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        });
        let mut n = 0;
        for r in self.list()? {
            if r.finished < cutoff {
                self.remove(&r.id)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// IDs are hex: a name with `/` or `..` must not reach a path.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn read(path: &Path) -> Result<BuildRecord, RecordError> {
    let bytes = std::fs::read(path).map_err(|source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| RecordError::Json {
        path: path.to_path_buf(),
        source,
    })
}
