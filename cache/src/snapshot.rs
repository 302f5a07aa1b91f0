//! `snapshots/<id>/`: unpacked layer directories. A snapshot holds only its
//! own layer's changes (overlay whiteouts as 0/0 character devices, opaque
//! directories as `trusted.overlay.opaque=y`); the runtime stacks a chain of
//! them as overlay lowers.
//!
//! Callers fill a [`StagingDir`] under `tmp/` (the layer applier, or a RUN
//! step's upper dir) and hand it to [`Store::commit_snapshot`], which
//! measures it, flushes it, renames it into place and records it in one
//! step under the store lock.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::blobs::BlobRef;
use crate::crashpoint::crash_point;
use crate::digest::Digest;
use crate::durable;
use crate::id;
use crate::lock::Leased;
use crate::meta::{self, DIFF_IDS, SNAPSHOTS};
use crate::store::{io_context, Store, StoreError, SNAPSHOTS_DIR};
use crate::tree_measure::{measure_tree, TreeMeasure};

/// An opaque snapshot ID. Always a safe single path component.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SnapshotId(String);

impl SnapshotId {
    pub fn parse(s: &str) -> Result<SnapshotId, StoreError> {
        if id::is_valid_id(s) {
            Ok(SnapshotId(s.to_string()))
        } else {
            Err(StoreError::InvalidId(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn generate() -> SnapshotId {
        SnapshotId(id::random_id())
    }
}

impl TryFrom<String> for SnapshotId {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SnapshotId::parse(&s)
    }
}

impl From<SnapshotId> for String {
    fn from(s: SnapshotId) -> String {
        s.0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotId({})", self.0)
    }
}

/// What the caller knows about a snapshot it commits.
#[derive(Debug, Clone, Default)]
pub struct NewSnapshot {
    /// The sha256 of the uncompressed layer tar, when the snapshot is a
    /// layer (from an archive, a registry, or after export).
    pub diff_id: Option<Digest>,
    /// Bytes of kiln's own tar of the directory, when kiln made it and
    /// hashed it: with `diff_id` it names the layer without its blob,
    /// which is written from the snapshot when something reads it.
    pub tar_size: Option<u64>,
    /// The snapshot this one sits on (a RUN step's lower chain top).
    pub parent: Option<SnapshotId>,
    /// What made it: a Dockerfile step, `import rootfs.tar`, a history
    /// line.
    pub created_by: String,
}

/// A committed snapshot, as `meta.db` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub id: SnapshotId,
    #[serde(default)]
    pub diff_id: Option<Digest>,
    /// Set when the snapshot is a layer kiln tarred itself: its blob can
    /// be made again from the directory (`layer_blob.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar_size: Option<u64>,
    #[serde(default)]
    pub parent: Option<SnapshotId>,
    /// Bytes of file content (hard links counted once) plus symlink
    /// targets: the apparent size, as `du --apparent-size` counts it.
    pub size: u64,
    /// blake3 over the sorted tree (names, types, modes, owners, xattrs,
    /// contents), so `cache check` notices any change on disk.
    pub tree_digest: String,
    pub created: SystemTime,
    #[serde(default)]
    pub created_by: String,
}

impl SnapshotInfo {
    /// The layer kiln tarred and hashed from this snapshot, named by its
    /// diff_id and tar size; its blob need not be on disk.
    pub fn hashed_layer(&self) -> Option<BlobRef> {
        Some(BlobRef {
            digest: self.diff_id?,
            size: self.tar_size?,
        })
    }
}

/// A measured snapshot, still under `tmp/`.
#[derive(Debug)]
pub(crate) struct StagedSnapshot {
    pub staging: StagingDir,
    /// What will be recorded; its ID is the one the snapshot gets unless a
    /// snapshot of the same layer is there first.
    pub info: SnapshotInfo,
}

/// Where a staged snapshot went.
pub(crate) enum Placed {
    /// Renamed into `snapshots/`; to be recorded.
    New(SnapshotInfo),
    /// The store had this layer already; the staged copy is dropped.
    Existing(SnapshotId),
}

impl Placed {
    pub(crate) fn id(&self) -> &SnapshotId {
        match self {
            Placed::New(info) => &info.id,
            Placed::Existing(id) => id,
        }
    }
}

/// A directory under `tmp/` for a snapshot being made. Removed if dropped
/// without being committed.
#[derive(Debug)]
pub struct StagingDir {
    path: PathBuf,
}

impl StagingDir {
    /// The directory to fill: it becomes the snapshot's root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts writing the filled directory's data to disk on a thread of
    /// its own and returns at once. A caller that reads the files next
    /// (to measure and hash them) then overlaps that with the disk, and
    /// the commit's own flush, which still makes the snapshot durable,
    /// finds little left to write.
    pub fn flush_behind(&self) {
        let path = self.path.clone();
        let started = std::thread::Builder::new()
            .name("flush-behind".into())
            .spawn(move || durable::sync_filesystem(&path));
        // Only a head start: without the thread, the commit flushes it all.
        drop(started);
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if self.path.exists() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

impl Store {
    /// An empty directory under `tmp/` to fill with a snapshot's content.
    pub fn new_snapshot_staging(&self) -> Result<StagingDir, StoreError> {
        let path = self.tmp_path("snapshot")?;
        fs::create_dir(&path).map_err(io_context("creating a staging directory"))?;
        Ok(StagingDir { path })
    }

    /// Turns a filled staging directory into a snapshot. When `diff_id` is
    /// already present as a snapshot, the staging copy is discarded and the
    /// existing snapshot returned: a layer is unpacked into the store once.
    /// The returned snapshot is leased to this process until the `Store` is
    /// dropped, so the caller may reference it from an image or a record.
    pub fn commit_snapshot(
        &self,
        staging: StagingDir,
        new: NewSnapshot,
    ) -> Result<SnapshotId, StoreError> {
        self.commit_measured_snapshot(staging, new, None)
    }

    /// [`Store::commit_snapshot`] of a tree its caller has measured while
    /// reading it for another purpose (the layer writer does), so it is
    /// not read again.
    pub fn commit_measured_snapshot(
        &self,
        staging: StagingDir,
        new: NewSnapshot,
        measured: Option<TreeMeasure>,
    ) -> Result<SnapshotId, StoreError> {
        let staged = self.stage_measured_snapshot(staging, new, measured)?;
        durable::sync_filesystem(staged.staging.path())
            .map_err(io_context("flushing a snapshot"))?;
        crash_point("snapshot-before-commit");
        let mut session = self.write_session()?;
        let placed = self.rename_snapshot(&mut session, staged)?;
        if let Placed::New(info) = &placed {
            durable::sync_dir(&self.dir(SNAPSHOTS_DIR))
                .map_err(io_context("flushing snapshots/"))?;
            crash_point("snapshot-after-rename");
            let tx = session.write()?;
            insert_snapshot(&tx, info)?;
            tx.commit().map_err(meta::MetaError::from)?;
        }
        Ok(placed.id().clone())
    }

    /// Measures a filled staging directory and gives it its ID; it stays
    /// under `tmp/`, unflushed, for [`crate::staged`] to flush and place
    /// with the rest of an operation's content.
    pub(crate) fn stage_snapshot(
        &self,
        staging: StagingDir,
        new: NewSnapshot,
    ) -> Result<StagedSnapshot, StoreError> {
        self.stage_measured_snapshot(staging, new, None)
    }

    fn stage_measured_snapshot(
        &self,
        staging: StagingDir,
        new: NewSnapshot,
        measured: Option<TreeMeasure>,
    ) -> Result<StagedSnapshot, StoreError> {
        let tree = match measured {
            Some(tree) => tree,
            None => measure_tree(staging.path())
                .map_err(io_context(format!("reading {}", staging.path().display())))?,
        };
        let info = SnapshotInfo {
            id: SnapshotId::generate(),
            diff_id: new.diff_id,
            tar_size: new.diff_id.and(new.tar_size),
            parent: new.parent,
            size: tree.size,
            tree_digest: tree.digest,
            created: SystemTime::now(),
            created_by: new.created_by,
        };
        Ok(StagedSnapshot { staging, info })
    }

    /// Renames a staged snapshot into `snapshots/`, or, when a snapshot of
    /// its diff_id is there already, leaves it to be discarded. The caller
    /// holds `session`, has flushed the snapshot's files, and flushes
    /// `snapshots/` and records a new one.
    pub(crate) fn rename_snapshot(
        &self,
        session: &mut crate::store::Session<'_>,
        staged: StagedSnapshot,
    ) -> Result<Placed, StoreError> {
        let info = staged.info;
        if let Some(diff_id) = &info.diff_id {
            if let Some(existing) = lookup_diff_id(session, diff_id)? {
                self.lease()?.add(&Leased::Snapshot(existing.0.clone()))?;
                return Ok(Placed::Existing(existing));
            }
        }
        if let Some(parent) = &info.parent {
            if snapshot_in(session, parent)?.is_none() {
                return Err(StoreError::SnapshotNotFound(parent.to_string()));
            }
        }
        self.lease()?.add(&Leased::Snapshot(info.id.0.clone()))?;
        let dest = self.snapshot_path(&info.id);
        fs::rename(staged.staging.path(), &dest).map_err(io_context("placing a snapshot"))?;
        Ok(Placed::New(info))
    }

    /// Where a snapshot's directory is.
    pub fn snapshot_path(&self, id: &SnapshotId) -> PathBuf {
        self.dir(SNAPSHOTS_DIR).join(id.as_str())
    }

    /// The recorded facts about a snapshot.
    pub fn snapshot(&self, id: &SnapshotId) -> Result<Option<SnapshotInfo>, StoreError> {
        let mut session = self.session()?;
        snapshot_in(&mut session, id)
    }

    /// The snapshot already holding the layer with this diff_id, leased to
    /// this process when found.
    pub fn snapshot_by_diff_id(&self, diff_id: &Digest) -> Result<Option<SnapshotId>, StoreError> {
        let mut session = self.session()?;
        let found = lookup_diff_id(&mut session, diff_id)?;
        if let Some(id) = &found {
            self.lease()?.add(&Leased::Snapshot(id.0.clone()))?;
        }
        Ok(found)
    }

    /// `id` and its ancestors, lowest first: the order of overlay lowers
    /// from the bottom (the runtime reverses it for `lowerdir=`).
    pub fn snapshot_chain(&self, id: &SnapshotId) -> Result<Vec<SnapshotId>, StoreError> {
        let mut session = self.session()?;
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(id.clone());
        while let Some(current) = next {
            if !seen.insert(current.clone()) {
                break;
            }
            let info = snapshot_in(&mut session, &current)?
                .ok_or_else(|| StoreError::SnapshotNotFound(current.to_string()))?;
            next = info.parent.clone();
            chain.push(current);
        }
        chain.reverse();
        Ok(chain)
    }
}

pub(crate) fn snapshot_in(
    session: &mut crate::store::Session<'_>,
    id: &SnapshotId,
) -> Result<Option<SnapshotInfo>, StoreError> {
    let tx = session.read()?;
    let table = tx.open_table(SNAPSHOTS).map_err(meta::MetaError::from)?;
    Ok(meta::get_json(&table, "snapshots", id.as_str())?)
}

fn lookup_diff_id(
    session: &mut crate::store::Session<'_>,
    diff_id: &Digest,
) -> Result<Option<SnapshotId>, StoreError> {
    let found = {
        let tx = session.read()?;
        let table = tx.open_table(DIFF_IDS).map_err(meta::MetaError::from)?;
        let v = table
            .get(diff_id.to_string().as_str())
            .map_err(meta::MetaError::from)?;
        v.map(|v| v.value().to_string())
    };
    let Some(found) = found else {
        return Ok(None);
    };
    let id = SnapshotId::parse(&found)?;
    // A mapping to a snapshot whose directory is gone (a repaired store) is
    // a miss, so the layer is unpacked again rather than used broken.
    if session.store.snapshot_path(&id).is_dir() {
        Ok(Some(id))
    } else {
        Ok(None)
    }
}

/// Records a snapshot in `tx`; the caller commits.
pub(crate) fn insert_snapshot(
    tx: &redb::WriteTransaction,
    info: &SnapshotInfo,
) -> Result<(), StoreError> {
    let mut snapshots = tx.open_table(SNAPSHOTS).map_err(meta::MetaError::from)?;
    snapshots
        .insert(info.id.as_str(), meta::encode(info)?.as_slice())
        .map_err(meta::MetaError::from)?;
    if let Some(diff_id) = &info.diff_id {
        let mut diff_ids = tx.open_table(DIFF_IDS).map_err(meta::MetaError::from)?;
        diff_ids
            .insert(diff_id.to_string().as_str(), info.id.as_str())
            .map_err(meta::MetaError::from)?;
    }
    Ok(())
}
