//! The store: one root directory holding blobs, snapshots and `meta.db`.
//!
//! ```text
//! blobs/sha256/<hex>   verified content, renamed into place after fsync
//! snapshots/<id>/      unpacked layers (overlay lowers/uppers)
//! meta.db              redb: refs, images, snapshots, cache records
//! usage.log            cache hits not yet folded into meta.db (usage.rs)
//! containers/ volumes/ the runtime's; counted by `system df`
//! tmp/                 staging: `<lease id>-<n>`, removed once its lease dies
//! locks/               the store lock and one lease per live process
//! quarantine/          what `cache check --repair` moved out of the way
//! ```
//!
//! Nothing under the root is for other users ([`PERMISSIONS`]): snapshots
//! hold images' files, setuid binaries among them, and a user who could
//! reach `snapshots/<id>/bin/su` (mode 4755, owner root) would be root.
//!
//! Every operation that reads or writes metadata, or makes content appear
//! or disappear, runs in a [`Session`]: the store lock, then `meta.db`
//! opened, then closed before the lock is released.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

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

/// The most each store directory may allow, as Docker sets up
/// `/var/lib/docker`. The root is the one gate: `0710` (Docker's), so no
/// other user can look up anything below it, whatever a subdirectory's
/// mode; group root may traverse (and nobody may list), which is what
/// Docker keeps it for. Below it, nothing is anybody's but root's: overlay
/// looks up lower, upper and work dirs with the credentials of the process
/// that mounted it (root), and the runtime bind-mounts volumes and files
/// before it drops to the container's user, so a `--user nobody` container
/// or a `USER nobody` RUN step never needs to traverse the store itself.
/// `containers/` keeps Docker's `0710`; each container's directory is made
/// `0700` by whoever creates it.
pub const PERMISSIONS: &[(&str, u32)] = &[
    ("", 0o710),
    ("blobs", 0o700),
    (BLOBS_DIR, 0o700),
    (SNAPSHOTS_DIR, 0o700),
    (TMP_DIR, 0o700),
    (LOCKS_DIR, 0o700),
    (CONTAINERS_DIR, 0o710),
    (VOLUMES_DIR, 0o700),
];

/// Existing entries that are tightened when found too open, but not made:
/// they belong to the code that creates them.
const TIGHTENED: &[(&str, u32)] = &[
    (META_DB, 0o600),
    (crate::usage::USAGE_LOG, 0o600),
    (QUARANTINE_DIR, 0o700),
    ("builds", 0o700),
    ("networks", 0o700),
];

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
    #[error("writing the layer of snapshot {snapshot}: {source}")]
    LayerTar {
        snapshot: String,
        source: crate::layer::DiffError,
    },
    #[error(
        "snapshot {snapshot} no longer gives its layer {expected} but {actual}: it changed on disk (kiln cache check --repair)"
    )]
    LayerChanged {
        snapshot: String,
        expected: Digest,
        actual: Digest,
    },
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
    #[error("listing what containers use of the store: {0}")]
    Holds(#[from] crate::hold::HoldsError),
    #[error("conflict: unable to delete {image} - image is being used by {holder}")]
    ImageInUse { image: String, holder: String },
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
    /// Made on first use: a store that only reads (`images`, `ps`, the
    /// `--pull missing` check of a `run`) creates no file for it.
    lease: OnceLock<Lease>,
    tmp_counter: AtomicU64,
}

impl Store {
    /// Opens the store at `root`, creating its layout if needed, and takes
    /// from other users any access an older kiln (or an admin) gave them.
    pub fn open(root: impl AsRef<Path>) -> Result<Store, StoreError> {
        let root = root.as_ref().to_path_buf();
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(io_context(format!("creating {}", parent.display())))?;
        }
        for (dir, mode) in PERMISSIONS {
            ensure_private(&root.join(dir), *mode, true)?;
        }
        for (name, mode) in TIGHTENED {
            ensure_private(&root.join(name), *mode, false)?;
        }
        // meta.db is opened (and its tables checked) by the first session
        // that needs it, not here: each open and close of the file costs
        // redb three fdatasyncs, ~1-3 ms on this disk.
        Ok(Store {
            root,
            lease: OnceLock::new(),
            tmp_counter: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// This process's lease, created when first asked for. The caller
    /// adds to it before what it names becomes visible or under the store
    /// lock, so a collection that reads leases under the lock finds it.
    pub(crate) fn lease(&self) -> Result<&Lease, StoreError> {
        if let Some(lease) = self.lease.get() {
            return Ok(lease);
        }
        let made = Lease::create(&self.dir(LOCKS_DIR))?;
        // Another thread may have made one meanwhile; then `made` is
        // dropped, and its file with it.
        Ok(self.lease.get_or_init(|| made))
    }

    /// A fresh path under `tmp/` that belongs to this process's lease.
    pub(crate) fn tmp_path(&self, what: &str) -> Result<PathBuf, StoreError> {
        let lease = self.lease()?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        Ok(self.dir(TMP_DIR).join(format!("{}-{what}-{n}", lease.id())))
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

/// Makes `path` (a directory, when `create`) with at most `allowed`, or
/// removes what an existing one grants beyond it. Never widens: a mode an
/// admin made tighter stays. One `stat` per entry when all is well.
fn ensure_private(path: &Path, allowed: u32, create: bool) -> Result<(), StoreError> {
    // Following symlinks: a root or `snapshots/` moved to another disk and
    // linked back is guarded at its target.
    let found = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
            match fs::DirBuilder::new().mode(allowed).create(path) {
                Ok(()) => return Ok(()),
                // Another kiln made it meanwhile: check its mode below.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    fs::metadata(path).map_err(io_context(format!("reading {}", path.display())))?
                }
                Err(e) => return Err(io_context(format!("creating {}", path.display()))(e)),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_context(format!("reading {}", path.display()))(e)),
    };
    let mode = found.permissions().mode() & 0o7777;
    if mode & !allowed == 0 {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode & allowed)).map_err(io_context(
        format!("restricting {} to mode {allowed:o}", path.display()),
    ))
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

    /// Writes the usage journal into `meta.db` (see `usage.rs`), which
    /// opening it for writing does.
    pub(crate) fn fold_usage(&mut self) -> Result<(), StoreError> {
        self.writable().map(|_| ())
    }

    fn writable(&mut self) -> Result<&Database, StoreError> {
        let db = match self.write.take() {
            Some(db) => db,
            None => {
                self.read = None;
                let db = meta::open(&self.path())?;
                meta::init(&db)?;
                crate::usage::fold(&db, &self.store.root)?;
                db
            }
        };
        Ok(self.write.insert(db))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_store_is_closed_to_other_users() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let _store = Store::open(&root).unwrap();
        for (sub, allowed) in PERMISSIONS {
            let m = mode(&root.join(sub));
            assert_eq!(m & 0o007, 0, "{sub:?} is open to others: {m:o}");
            assert_eq!(
                m & !allowed,
                0,
                "{sub:?} allows more than {allowed:o}: {m:o}"
            );
        }
    }

    #[test]
    fn opening_tightens_an_open_store_and_never_widens() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        drop(Store::open(&root).unwrap());
        for sub in ["", "snapshots", "blobs/sha256", "containers"] {
            fs::set_permissions(root.join(sub), fs::Permissions::from_mode(0o4777)).unwrap();
        }
        fs::create_dir(root.join("builds")).unwrap();
        fs::set_permissions(root.join("builds"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(root.join("volumes"), fs::Permissions::from_mode(0o500)).unwrap();
        drop(Store::open(&root).unwrap());
        assert_eq!(mode(&root), 0o710);
        assert_eq!(mode(&root.join("snapshots")), 0o700);
        assert_eq!(mode(&root.join("blobs/sha256")), 0o700);
        assert_eq!(mode(&root.join("containers")), 0o710);
        assert_eq!(mode(&root.join("builds")), 0o700);
        assert_eq!(mode(&root.join("volumes")), 0o500);
    }
}
