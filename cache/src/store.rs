//! The store: one root directory holding blobs, snapshots and `meta.db`.
//!
//! ```text
//! blobs/sha256/<hex>   verified content, renamed into place after fsync
//! snapshots/<id>/      unpacked layers (overlay lowers/uppers)
//! meta.db              redb: refs, images, snapshots, cache records
//! containers/ volumes/ the runtime's; counted by `system df`
//! tmp/                 staging: `<lease id>-<n>`, removed once its lease dies
//! locks/               the store lock and one lease per live process
//! quarantine/          what `cache check --repair` moved out of the way
//! ```
//!
//! Every operation that reads or writes metadata, or makes content appear
//! or disappear, runs in a [`Session`]: the store lock, then `meta.db`
//! opened, then closed before the lock is released.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, WriteTransaction};

use crate::digest::{Digest, DigestError};
use crate::lock::{self, Lease, LockError, StoreLock};
use crate::meta::{self, MetaError};
use crate::reference::ReferenceError;

pub(crate) const BLOBS_DIR: &str = "blobs/sha256";
pub(crate) const SNAPSHOTS_DIR: &str = "snapshots";
pub(crate) const TMP_DIR: &str = "tmp";
pub(crate) const LOCKS_DIR: &str = "locks";
pub(crate) const QUARANTINE_DIR: &str = "quarantine";
pub(crate) const CONTAINERS_DIR: &str = "containers";
pub(crate) const VOLUMES_DIR: &str = "volumes";
const META_DB: &str = "meta.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {0} not found")]
    BlobNotFound(Digest),
    #[error("snapshot {0} not found")]
    SnapshotNotFound(String),
    #[error("no such image: {0}")]
    ImageNotFound(String),
    #[error("{0:?} matches more than one image; use more of the ID")]
    AmbiguousImage(String),
    #[error("no such cache record: {0}")]
    RecordNotFound(String),
    #[error("{0:?} matches more than one cache record; use more of the ID")]
    AmbiguousRecord(String),
    #[error("invalid ID {0:?}")]
    InvalidId(String),
    #[error("{what} refers to {missing}, which is not in the store")]
    MissingDependency { what: String, missing: String },
}

/// Wraps an `io::Error` with what was being done.
pub(crate) fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// A kiln store on disk. Cheap to open; one per process is typical, and it
/// may be shared between threads.
pub struct Store {
    root: PathBuf,
    lease: Lease,
    tmp_counter: AtomicU64,
}

impl Store {
    /// Opens the store at `root`, creating its layout if needed.
    pub fn open(root: impl AsRef<Path>) -> Result<Store, StoreError> {
        let root = root.as_ref().to_path_buf();
        for dir in [
            BLOBS_DIR,
            SNAPSHOTS_DIR,
            TMP_DIR,
            LOCKS_DIR,
            CONTAINERS_DIR,
            VOLUMES_DIR,
        ] {
            let path = root.join(dir);
            fs::create_dir_all(&path)
                .map_err(io_context(format!("creating {}", path.display())))?;
        }
        let lease = Lease::create(&root.join(LOCKS_DIR))?;
        // meta.db is opened (and its tables checked) by the first session
        // that needs it, not here: each open and close of the file costs
        // redb three fdatasyncs, ~1-3 ms on this disk.
        Ok(Store {
            root,
            lease,
            tmp_counter: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub(crate) fn lease(&self) -> &Lease {
        &self.lease
    }

    /// A fresh path under `tmp/` that belongs to this process's lease.
    pub(crate) fn tmp_path(&self, what: &str) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.dir(TMP_DIR)
            .join(format!("{}-{what}-{n}", self.lease.id()))
    }

    /// Takes the store lock; the database opens on first use, read-only
    /// until something is written.
    pub(crate) fn session(&self) -> Result<Session<'_>, StoreError> {
        self.session_for(false)
    }

    /// A session for an operation that will write: its reads open the
    /// database writable at once rather than read-only, then again.
    pub(crate) fn write_session(&self) -> Result<Session<'_>, StoreError> {
        self.session_for(true)
    }

    fn session_for(&self, writes: bool) -> Result<Session<'_>, StoreError> {
        let lock = lock::lock_store(&self.dir(LOCKS_DIR))?;
        Ok(Session {
            read: None,
            write: None,
            writes,
            store: self,
            _lock: lock,
        })
    }
}

/// The store lock, and `meta.db` while it is held: read-only until the
/// first write. Fields drop in order: the database closes before the lock
/// is released.
pub(crate) struct Session<'s> {
    read: Option<ReadOnlyDatabase>,
    write: Option<Database>,
    /// Opened for a write: reads go through the writable handle.
    writes: bool,
    pub(crate) store: &'s Store,
    _lock: StoreLock,
}

impl Session<'_> {
    fn path(&self) -> PathBuf {
        self.store.root.join(META_DB)
    }

    /// A read transaction. Without a writable handle open already, the
    /// file is opened read-only: no write, no fdatasync.
    pub(crate) fn read(&mut self) -> Result<ReadTransaction, StoreError> {
        if self.read.is_none() && self.write.is_none() && !self.writes {
            self.read = meta::open_read_only(&self.path())?;
        }
        let tx = match &self.read {
            Some(db) => db.begin_read(),
            None => self.writable()?.begin_read(),
        };
        Ok(tx.map_err(MetaError::from)?)
    }

    /// A write transaction. A read-only handle is closed first (redb opens
    /// a file for writing only alone), so read transactions begun before
    /// must be finished.
    pub(crate) fn write(&mut self) -> Result<WriteTransaction, StoreError> {
        Ok(self.writable()?.begin_write().map_err(MetaError::from)?)
    }

    fn writable(&mut self) -> Result<&Database, StoreError> {
        let db = match self.write.take() {
            Some(db) => db,
            None => {
                self.read = None;
                let db = meta::open(&self.path())?;
                meta::init(&db)?;
                db
            }
        };
        Ok(self.write.insert(db))
    }
}
