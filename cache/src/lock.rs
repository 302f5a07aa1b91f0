//! Cross-process coordination on one root, with `flock` (std `File::lock`).
//!
//! Two kinds of lock:
//! - the store lock (`locks/store.lock`), held briefly and exclusively by
//!   every metadata transaction and every step that makes content visible or
//!   deletes it, so garbage collection sees a consistent world;
//! - one lease per open [`crate::Store`] (`locks/lease-<id>`), held for the
//!   life of the process. The file lists the blobs and snapshots the process
//!   is using but has not yet referenced from metadata; GC treats them as
//!   roots. A lease whose lock can be taken belongs to a dead process and is
//!   ignored and removed: a SIGKILLed kiln never pins content forever.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::id;

const STORE_LOCK: &str = "store.lock";
const LEASE_PREFIX: &str = "lease-";
const NEW_LEASE_PREFIX: &str = "new-lease-";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("locking {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LockError + '_ {
    move |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The exclusive store lock; released when dropped.
pub(crate) struct StoreLock {
    _file: File,
}

/// Blocks until this process holds the store lock. Each call opens the file
/// anew, so two threads of one process exclude each other too (flock locks
/// belong to the open file description).
pub(crate) fn lock_store(locks_dir: &Path) -> Result<StoreLock, LockError> {
    let path = locks_dir.join(STORE_LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    file.lock().map_err(io_err(&path))?;
    Ok(StoreLock { _file: file })
}

/// What a lease protects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Leased {
    Blob(Digest),
    Snapshot(String),
}

/// This process's lease.
pub(crate) struct Lease {
    id: String,
    path: PathBuf,
    file: File,
}

impl Lease {
    /// Creates and locks the lease file under a temporary name, then renames
    /// it into view, so no other process ever sees it unlocked.
    pub(crate) fn create(locks_dir: &Path) -> Result<Lease, LockError> {
        let id = id::random_id();
        let new_path = locks_dir.join(format!("{NEW_LEASE_PREFIX}{id}"));
        let path = locks_dir.join(format!("{LEASE_PREFIX}{id}"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .read(true)
            .open(&new_path)
            .map_err(io_err(&new_path))?;
        file.lock().map_err(io_err(&new_path))?;
        fs::rename(&new_path, &path).map_err(io_err(&path))?;
        Ok(Lease { id, path, file })
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Records that this process uses `what`. Callers add to the lease
    /// before the thing becomes visible or while holding the store lock.
    pub(crate) fn add(&self, what: &Leased) -> Result<(), LockError> {
        (&self.file)
            .write_all(line(what).as_bytes())
            .map_err(io_err(&self.path))
    }
}

impl Lease {
    /// Records several things in one write (one line each).
    pub(crate) fn add_all(&self, what: impl IntoIterator<Item = Leased>) -> Result<(), LockError> {
        let mut text = String::new();
        for w in what {
            text.push_str(&line(&w));
        }
        if text.is_empty() {
            return Ok(());
        }
        (&self.file)
            .write_all(text.as_bytes())
            .map_err(io_err(&self.path))
    }
}

fn line(what: &Leased) -> String {
    match what {
        Leased::Blob(d) => format!("blob {d}\n"),
        Leased::Snapshot(s) => format!("snapshot {s}\n"),
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Unlink while still locked: a GC never finds it unlocked.
        let _ = fs::remove_file(&self.path);
    }
}

/// Everything the live leases protect, and their IDs (whose `tmp/` entries
/// are in use).
#[derive(Debug, Default)]
pub(crate) struct LiveLeases {
    pub ids: HashSet<String>,
    pub blobs: HashSet<Digest>,
    pub snapshots: HashSet<String>,
}

/// Reads every lease whose owner is alive; removes the files of dead ones.
/// Call with the store lock held so no lease grows while being read.
pub(crate) fn live_leases(locks_dir: &Path) -> Result<LiveLeases, LockError> {
    let mut live = LiveLeases::default();
    for entry in fs::read_dir(locks_dir).map_err(io_err(locks_dir))? {
        let entry = entry.map_err(io_err(locks_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let (lease_id, visible) = if let Some(id) = name.strip_prefix(LEASE_PREFIX) {
            (id.to_string(), true)
        } else if let Some(id) = name.strip_prefix(NEW_LEASE_PREFIX) {
            (id.to_string(), false)
        } else {
            continue;
        };
        let path = entry.path();
        let Some(text) = read_if_alive(&path)? else {
            continue;
        };
        live.ids.insert(lease_id);
        if visible {
            parse_lease(&text, &mut live);
        }
    }
    Ok(live)
}

/// The lease's text if its owner holds it; `None` (and the file removed) if
/// the owner is gone.
fn read_if_alive(path: &Path) -> Result<Option<String>, LockError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = fs::remove_file(path);
            Ok(None)
        }
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            file.read_to_string(&mut text).map_err(io_err(path))?;
            Ok(Some(text))
        }
        Err(TryLockError::Error(e)) => Err(io_err(path)(e)),
    }
}

fn parse_lease(text: &str, live: &mut LiveLeases) {
    // A line being appended while we read is incomplete: what it names is not
    // visible yet (leases are written first), so skipping it is safe.
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("blob", d)) => {
                if let Ok(d) = Digest::parse(d) {
                    live.blobs.insert(d);
                }
            }
            Some(("snapshot", s)) if id::is_valid_id(s) => {
                live.snapshots.insert(s.to_string());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lease_is_live_and_a_dropped_one_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let lease = Lease::create(dir.path()).unwrap();
        let d = Digest::of_bytes(b"x");
        lease.add(&Leased::Blob(d)).unwrap();
        lease.add(&Leased::Snapshot("abc".into())).unwrap();
        let live = live_leases(dir.path()).unwrap();
        assert!(live.ids.contains(lease.id()));
        assert!(live.blobs.contains(&d));
        assert!(live.snapshots.contains("abc"));
        drop(lease);
        let live = live_leases(dir.path()).unwrap();
        assert!(live.ids.is_empty() && live.blobs.is_empty());
    }

    #[test]
    fn a_lease_left_by_a_dead_process_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("lease-deadbeef");
        fs::write(&stale, "blob sha256:00\n").unwrap();
        let live = live_leases(dir.path()).unwrap();
        assert!(live.ids.is_empty());
        assert!(!stale.exists());
    }
}
