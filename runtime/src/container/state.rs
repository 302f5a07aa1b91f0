//! Containers on disk, shared by every kiln process using one root:
//! `<root>/containers/<id>/config.json` (what was asked for, written once
//! at create) and `state.json` (what is happening; absent until the first
//! change, which reads as created), both written as tmp + rename, the
//! state under a lock on the container's directory. A container whose
//! monitor holds `monitor.lock` is alive; when nobody holds it, a
//! "running" state is stale and is reported as dead, so `ps` tells the
//! truth after a monitor was killed.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use super::names::Names;
use super::restart::RestartPolicy;
use crate::network::{NetworkMode, PortBinding};
use crate::process::rootfs::Rootfs;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("reading {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("container name {0:?} is ambiguous: it is a prefix of several IDs")]
    Ambiguous(String),
    #[error("the container name \"/{name}\" is already in use by container {holder}: remove or rename that container to reuse the name")]
    NameInUse { name: String, holder: String },
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
}

pub type Result<T> = std::result::Result<T, Error>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One mount of a container, as `inspect` shows it under `Mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// `volume` or `bind`.
    pub kind: String,
    /// The volume's name (empty for a bind).
    pub name: String,
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
    /// An anonymous volume: removed with `rm -v` and `--rm`.
    pub anonymous: bool,
}

/// What a container was created with; written once (except its name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The image as the user named it, and its ID.
    pub image: String,
    pub image_id: String,
    pub spec: Spec,
    pub rootfs: Rootfs,
    pub tty: bool,
    pub open_stdin: bool,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    /// Signal name or number for `stop` (STOPSIGNAL, `--stop-signal`).
    pub stop_signal: String,
    pub stop_timeout: Option<u64>,
    pub network: NetworkMode,
    pub ports: Vec<PortBinding>,
    pub mounts: Vec<MountPoint>,
    /// Docker's `Config` section for `inspect` (Env, Cmd, Entrypoint,
    /// Image, WorkingDir, User, ExposedPorts, Labels …).
    pub config: serde_json::Value,
}

impl Record {
    /// The command line `ps` shows.
    pub fn command(&self) -> String {
        let args = self
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.args().clone())
            .unwrap_or_default();
        args.join(" ")
    }

    /// Docker's `Config.Labels` (the image's, then `--label`s).
    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        let Some(map) = self.config.get("Labels").and_then(|l| l.as_object()) else {
            return Default::default();
        };
        map.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// A monitor should be alive in this state.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// What is happening to a container now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// The container's first process, as the host sees it.
    pub pid: i32,
    pub monitor_pid: i32,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub restart_count: u32,
    /// `stop`/`kill` asked for the end: the restart policy stands down.
    pub stop_requested: bool,
    /// Ports as published (with the host ports actually bound).
    pub ports: Vec<PortBinding>,
    /// The container's address on its user network.
    pub ip: Option<String>,
    /// Its health check's results; `None` when it has no check.
    #[serde(default)]
    pub health: Option<super::health::Health>,
}

/// One container: its directory, record and (observed) state.
#[derive(Debug, Clone)]
pub struct Container {
    pub dir: PathBuf,
    pub record: Record,
    pub state: State,
}

/// RFC 3339 time, as Docker prints it.
pub fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// `<root>/containers`.
#[derive(Debug, Clone)]
pub struct Containers {
    dir: PathBuf,
}

impl Containers {
    pub fn new(dir: impl Into<PathBuf>) -> Containers {
        Containers { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lock that makes name checks and renames atomic across processes.
    fn lock_names(&self) -> Result<File> {
        std::fs::create_dir_all(&self.dir).map_err(io_err("creating", &self.dir))?;
        // flock on the directory itself: no lock file among the containers.
        let f = File::open(&self.dir).map_err(io_err("opening", &self.dir))?;
        f.lock().map_err(io_err("locking", &self.dir))?;
        Ok(f)
    }

    /// Writes a new container's record and its "created" state; the name
    /// must be free.
    pub fn create(&self, record: &Record) -> Result<Container> {
        check_name(&record.name)?;
        let _names = self.lock_names()?;
        self.name_free(&record.name, &record.id)?;
        let index = self.names();
        index
            .set(&record.name, &record.id)
            .map_err(io_err("indexing the name of", &self.dir))?;
        let dir = self.dir.join(&record.id);
        // Private (as Docker's containers/<id>): its upper dir holds what
        // the container wrote, setuid files included.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&dir)
            .map_err(io_err("creating", &dir))?;
        write_json(&dir.join("config.json"), record)?;
        // No state.json yet: an absent one reads as the default, created,
        // and every file a `run --rm` makes costs it on the store's disk.
        Ok(Container {
            dir,
            record: record.clone(),
            state: State::default(),
        })
    }

    fn names(&self) -> Names {
        Names::new(&self.dir)
    }

    /// The names index, built from the records when the root predates it.
    /// The caller holds the containers lock.
    fn ensure_index(&self) -> Result<Names> {
        let index = self.names();
        if !index.exists() {
            let all = self.list_raw()?;
            let pairs = all
                .iter()
                .map(|c| (c.record.name.as_str(), c.record.id.as_str()));
            index
                .rebuild(pairs)
                .map_err(io_err("indexing the names in", &self.dir))?;
        }
        Ok(index)
    }

    /// The container `name` points at, if its record still has that name.
    fn holder(&self, index: &Names, name: &str) -> Option<Container> {
        let id = index.get(name)?;
        let c = load_raw(&self.dir.join(&id)).ok()?;
        (c.record.name == name).then_some(c)
    }

    fn name_free(&self, name: &str, id: &str) -> Result<()> {
        let index = self.ensure_index()?;
        match self.holder(&index, name) {
            Some(c) if c.record.id != id => Err(Error::NameInUse {
                name: name.into(),
                holder: c.record.id,
            }),
            _ => Ok(()),
        }
    }

    /// Drops a removed container's name from the index.
    pub fn forget(&self, c: &Container) -> Result<()> {
        let _names = self.lock_names()?;
        self.names()
            .remove_if(&c.record.name, &c.record.id)
            .map_err(io_err("unindexing the name of", &c.dir))
    }

    /// Every container, newest first, with truthful states.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut all = self.list_raw()?;
        for c in &mut all {
            c.state = observe(&c.dir, c.state.clone());
        }
        Ok(all)
    }

    fn list_raw(&self) -> Result<Vec<Container>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("reading", &self.dir)(e)),
        };
        let mut all: Vec<Container> = entries
            .flatten()
            .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
            .filter_map(|e| load_raw(&e.path()).ok())
            .collect();
        all.sort_by(|a, b| b.record.created.cmp(&a.record.created));
        Ok(all)
    }

    /// A container by full ID, name, or unique ID prefix (Docker's order),
    /// reading only the record it returns.
    pub fn find(&self, key: &str) -> Result<Container> {
        let key = key.trim_start_matches('/');
        let plain = !key.is_empty() && !key.starts_with('.') && !key.contains('/');
        if !plain {
            return Err(Error::NotFound(key.into()));
        }
        if let Ok(c) = Container::load(&self.dir.join(key)) {
            return Ok(c);
        }
        if let Some(c) = self.by_name(key)? {
            return Ok(Container {
                state: observe(&c.dir, c.state.clone()),
                ..c
            });
        }
        let mut hits = self.ids()?.into_iter().filter(|id| id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some(id), None) => Container::load(&self.dir.join(id)),
            (Some(_), Some(_)) => Err(Error::Ambiguous(key.into())),
            // A record the index missed (written by a kiln before it).
            _ => self
                .list()?
                .into_iter()
                .find(|c| c.record.name == key)
                .ok_or_else(|| Error::NotFound(key.into())),
        }
    }

    fn by_name(&self, name: &str) -> Result<Option<Container>> {
        let mut index = self.names();
        if !index.exists() {
            let _names = self.lock_names()?;
            index = self.ensure_index()?;
        }
        Ok(self.holder(&index, name))
    }

    /// The IDs of the containers' directories.
    fn ids(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("reading", &self.dir)(e)),
        };
        Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect())
    }

    /// Renames a container; the new name must be free.
    pub fn rename(&self, key: &str, name: &str) -> Result<()> {
        check_name(name)?;
        let _names = self.lock_names()?;
        // Built first: `find` would take the lock held here to build it.
        self.ensure_index()?;
        let c = self.find(key)?;
        self.name_free(name, &c.record.id)?;
        let index = self.names();
        index
            .set(name, &c.record.id)
            .map_err(io_err("indexing the name of", &c.dir))?;
        let mut record = c.record;
        let old = std::mem::replace(&mut record.name, name.into());
        write_json(&c.dir.join("config.json"), &record)?;
        index
            .remove_if(&old, &record.id)
            .map_err(io_err("unindexing the name of", &c.dir))
    }

    /// Writes `record` as its container's (`update`'s new limits), under
    /// the lock a rename takes, so neither loses the other's change.
    pub fn replace_record(&self, record: Record) -> Result<()> {
        let _names = self.lock_names()?;
        // By ID, which needs no name index (building one takes the lock).
        let c = Container::load(&self.dir.join(&record.id))?;
        let record = Record {
            name: c.record.name,
            ..record
        };
        write_json(&c.dir.join("config.json"), &record)
    }
}

fn load_raw(dir: &Path) -> Result<Container> {
    let record: Record = read_json(&dir.join("config.json"))?;
    let state: State = read_json(&dir.join("state.json")).unwrap_or_default();
    Ok(Container {
        dir: dir.to_path_buf(),
        record,
        state,
    })
}

/// Docker's rule for names.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(Error::BadName(name.into()))
    }
}

/// A live state whose monitor is gone is dead.
fn observe(dir: &Path, mut state: State) -> State {
    if state.status.is_live() && !monitor_alive(dir) {
        state.status = Status::Dead;
        if state.error.is_empty() {
            state.error = "the container's monitor process died".into();
        }
    }
    state
}

/// Whether a process holds the container's monitor lock.
pub fn monitor_alive(dir: &Path) -> bool {
    let Ok(f) = File::open(dir.join("monitor.lock")) else {
        return false;
    };
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
            false
        }
        Err(_) => true,
    }
}

/// Takes the monitor lock of `dir` for the life of the returned file.
pub fn hold_monitor_lock(dir: &Path) -> Result<File> {
    let path = dir.join("monitor.lock");
    let f = File::create(&path).map_err(io_err("creating", &path))?;
    f.try_lock().map_err(|_| Error::Io {
        op: "locking",
        path: path.clone(),
        source: io::Error::new(io::ErrorKind::WouldBlock, "another monitor runs it"),
    })?;
    Ok(f)
}

impl Container {
    /// Re-reads the record and state from disk.
    pub fn load(dir: &Path) -> Result<Container> {
        let mut c = load_raw(dir)?;
        c.state = observe(dir, c.state);
        Ok(c)
    }

    /// Changes the state under its lock and writes it back atomically;
    /// returns the new state.
    pub fn update(&self, change: impl FnOnce(&mut State)) -> Result<State> {
        update_state(&self.dir, change)
    }

    pub fn short_id(&self) -> &str {
        &self.record.id[..self.record.id.len().min(12)]
    }

    /// The host PID of a running (or paused) container's first process.
    pub fn process_pid(&self) -> Option<u32> {
        match self.state.status {
            Status::Running | Status::Paused => {
                u32::try_from(self.state.pid).ok().filter(|p| *p > 0)
            }
            _ => None,
        }
    }
}

/// [`Container::update`] given only the directory.
pub fn update_state(dir: &Path, change: impl FnOnce(&mut State)) -> Result<State> {
    // The container's directory is the lock (flock takes a directory):
    // a lock file of its own would be one more inode per container.
    let lock = File::open(dir).map_err(io_err("opening", dir))?;
    lock.lock().map_err(io_err("locking", dir))?;
    // A container made by an older kiln has a `state.lock`, which its
    // monitor (still that kiln) takes instead: take it too.
    let legacy = dir.join("state.lock");
    let _legacy = match File::open(&legacy) {
        Ok(f) => {
            f.lock().map_err(io_err("locking", &legacy))?;
            Some(f)
        }
        Err(_) => None,
    };
    let path = dir.join("state.json");
    let mut state: State = read_json(&path).unwrap_or_default();
    change(&mut state);
    write_json(&path, &state)?;
    Ok(state)
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(io_err("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// tmp + rename, so a reader sees the old file or the new, never half.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io_err("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("renaming", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::record;

    #[test]
    fn names_are_unique_and_found_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let cs = Containers::new(dir.path());
        cs.create(&record("abc123", "web")).unwrap();
        let clash = cs.create(&record("abd456", "web")).unwrap_err();
        assert!(clash.to_string().contains("abc123"), "{clash}");
        cs.create(&record("abd456", "db")).unwrap();
        assert_eq!(cs.find("web").unwrap().record.id, "abc123");
        assert_eq!(cs.find("abd").unwrap().record.name, "db");
        assert!(matches!(cs.find("ab"), Err(Error::Ambiguous(_))));
        assert!(matches!(cs.find("zz"), Err(Error::NotFound(_))));
        cs.rename("db", "cache").unwrap();
        assert_eq!(cs.find("cache").unwrap().record.id, "abd456");
        assert!(cs.rename("cache", "bad name").is_err());
    }

    #[test]
    fn a_new_container_is_created_without_a_state_file_or_a_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let cs = Containers::new(dir.path());
        let c = cs.create(&record("abc", "web")).unwrap();
        assert!(!c.dir.join("state.json").exists());
        assert_eq!(
            Container::load(&c.dir).unwrap().state.status,
            Status::Created
        );
        c.update(|s| s.exit_code = 3).unwrap();
        let again = Container::load(&c.dir).unwrap().state;
        assert_eq!((again.status, again.exit_code), (Status::Created, 3));
        let mut names: Vec<String> = std::fs::read_dir(&c.dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["config.json", "state.json"]);
    }

    #[test]
    fn a_name_frees_with_its_container_or_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let cs = Containers::new(dir.path());
        let web = cs.create(&record("abc", "web")).unwrap();
        cs.rename("web", "site").unwrap();
        cs.create(&record("def", "web")).unwrap();
        assert_eq!(cs.find("site").unwrap().record.id, "abc");
        // Removed by hand (or a crash before its record was written): the
        // index's link is stale, and the name is free.
        std::fs::remove_dir_all(&web.dir).unwrap();
        cs.create(&record("ghi", "site")).unwrap();
        let ghi = cs.find("site").unwrap();
        assert_eq!(ghi.record.id, "ghi");
        std::fs::remove_dir_all(&ghi.dir).unwrap();
        cs.forget(&ghi).unwrap();
        assert!(matches!(cs.find("site"), Err(Error::NotFound(_))));
    }

    #[test]
    fn a_root_from_before_the_index_is_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let cs = Containers::new(dir.path());
        cs.create(&record("abc", "web")).unwrap();
        std::fs::remove_dir_all(dir.path().join(super::super::names::DIR)).unwrap();
        assert_eq!(cs.find("web").unwrap().record.id, "abc");
        std::fs::remove_dir_all(dir.path().join(super::super::names::DIR)).unwrap();
        let clash = cs.create(&record("def", "web")).unwrap_err();
        assert!(matches!(clash, Error::NameInUse { .. }), "{clash}");
        assert_eq!(cs.list().unwrap().len(), 1, "the index is not a container");
        std::fs::remove_dir_all(dir.path().join(super::super::names::DIR)).unwrap();
        cs.rename("web", "site").unwrap();
        assert_eq!(cs.find("site").unwrap().record.id, "abc");
    }

    #[test]
    fn running_without_a_monitor_is_dead() {
        let dir = tempfile::tempdir().unwrap();
        let cs = Containers::new(dir.path());
        let c = cs.create(&record("abc", "a")).unwrap();
        c.update(|s| s.status = Status::Running).unwrap();
        assert_eq!(Container::load(&c.dir).unwrap().state.status, Status::Dead);
        let _held = hold_monitor_lock(&c.dir).unwrap();
        assert!(monitor_alive(&c.dir));
        assert_eq!(
            Container::load(&c.dir).unwrap().state.status,
            Status::Running
        );
    }
}
