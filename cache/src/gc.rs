//! Garbage collection: mark what the roots need, remove the rest.
//!
//! Roots: image records (their manifest, config, index and layer blobs,
//! their layer snapshots), cache records (their snapshots), the holds of
//! containers (their snapshots, see `hold.rs`), and the leases of live
//! processes. A live snapshot keeps its parent chain and the
//! compressed variants of its diff_id. Everything else in `snapshots/`,
//! `blobs/` and `meta.db` goes, including leftovers of crashed writers.
//!
//! Order, for crash safety: under the store lock, metadata rows are deleted
//! first (one transaction), then the unreferenced files are renamed into
//! `tmp/` (fast); the slow deletion runs after the lock is released. A crash
//! anywhere leaves only unreferenced files, which the next GC removes.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::crashpoint::crash_point;
use crate::digest::Digest;
use crate::durable;
use crate::hold::{Hold, Holds};
use crate::id;
use crate::image_store::{all_images, ImageEntry};
use crate::lock::{self, LiveLeases};
use crate::meta::{self, MetaError, DIFF_IDS, SNAPSHOTS, VARIANTS};
use crate::record::{all_records, CacheRecord};
use crate::snapshot::SnapshotInfo;
use crate::store::{io_context, Session, StoreError, BLOBS_DIR, LOCKS_DIR, SNAPSHOTS_DIR, TMP_DIR};
use crate::tree_measure::measure_tree;

/// What a collection moved out of the store, waiting to be deleted.
#[derive(Debug, Default)]
pub(crate) struct Swept {
    pub trash: Vec<PathBuf>,
    pub bytes: u64,
    pub snapshots: usize,
    pub blobs: usize,
}

/// Everything `meta.db` knows, read once.
pub(crate) struct World {
    pub images: Vec<ImageEntry>,
    pub records: Vec<CacheRecord>,
    pub snapshots: HashMap<String, SnapshotInfo>,
    pub diff_ids: Vec<(String, String)>,
    /// `<diff_id> <compression>` → blob.
    pub variants: Vec<(String, Digest)>,
}

pub(crate) fn read_world(session: &mut Session<'_>) -> Result<World, StoreError> {
    let images = all_images(session)?;
    let records = all_records(session)?;
    let tx = session.read()?;
    let snaps = tx.open_table(SNAPSHOTS).map_err(MetaError::from)?;
    let snapshots = meta::all_json::<SnapshotInfo, _>(&snaps, "snapshots")?
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.ok()?)))
        .collect();
    let diff_ids = meta::all_str(&tx.open_table(DIFF_IDS).map_err(MetaError::from)?)?;
    let vt = tx.open_table(VARIANTS).map_err(MetaError::from)?;
    let variants = meta::all_json::<crate::blobs::BlobRef, _>(&vt, "variants")?
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.ok()?.digest)))
        .collect();
    Ok(World {
        images,
        records,
        snapshots,
        diff_ids,
        variants,
    })
}

/// What must stay.
#[derive(Debug, Default)]
pub(crate) struct Marked {
    pub snapshots: HashSet<String>,
    pub blobs: HashSet<Digest>,
}

/// Snapshots that images and containers need (with their parent chains):
/// never pruned.
pub(crate) fn image_snapshots(world: &World, held: &[Hold]) -> HashSet<String> {
    let roots = world
        .images
        .iter()
        .flat_map(|e| e.image.layers.iter().map(|l| l.snapshot.to_string()))
        .chain(held_snapshots(held));
    with_parents(roots, &world.snapshots)
}

fn held_snapshots(held: &[Hold]) -> impl Iterator<Item = String> + '_ {
    held.iter()
        .flat_map(|h| h.snapshots.iter().map(|s| s.to_string()))
}

fn with_parents(
    roots: impl Iterator<Item = String>,
    snapshots: &HashMap<String, SnapshotInfo>,
) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut stack: Vec<String> = roots.collect();
    while let Some(s) = stack.pop() {
        if !out.insert(s.clone()) {
            continue;
        }
        if let Some(parent) = snapshots.get(&s).and_then(|i| i.parent.as_ref()) {
            stack.push(parent.to_string());
        }
    }
    out
}

pub(crate) fn mark(world: &World, live: &LiveLeases, held: &[Hold]) -> Marked {
    let roots = world
        .images
        .iter()
        .flat_map(|e| e.image.layers.iter().map(|l| l.snapshot.to_string()))
        .chain(
            world
                .records
                .iter()
                .filter_map(|r| r.snapshot.as_ref().map(|s| s.to_string())),
        )
        .chain(live.snapshots.iter().cloned())
        .chain(held_snapshots(held));
    let snapshots = with_parents(roots, &world.snapshots);
    let mut blobs: HashSet<Digest> = live.blobs.clone();
    for e in &world.images {
        let im = &e.image;
        blobs.insert(im.manifest.digest);
        blobs.insert(im.config.digest);
        blobs.extend(im.index.map(|i| i.digest));
        blobs.extend(im.layers.iter().map(|l| l.blob.digest));
    }
    let live_diff_ids: HashSet<String> = snapshots
        .iter()
        .filter_map(|s| world.snapshots.get(s)?.diff_id.map(|d| d.to_string()))
        .collect();
    for (key, blob) in &world.variants {
        if variant_diff_id(key).is_some_and(|d| live_diff_ids.contains(d)) {
            blobs.insert(*blob);
        }
    }
    Marked { snapshots, blobs }
}

fn variant_diff_id(key: &str) -> Option<&str> {
    key.split_once(' ').map(|(d, _)| d)
}

/// Marks, deletes unmarked metadata, and moves unmarked files to the
/// trash. The caller empties the trash after releasing the session.
/// `holds` is asked here, under the store lock (see `hold.rs`).
pub(crate) fn collect_in(
    session: &mut Session<'_>,
    holds: &dyn Holds,
) -> Result<Swept, StoreError> {
    let store = session.store;
    // Leases before holds: a kiln that creates a container leases its
    // snapshots, then records the container, then exits. Read in this
    // order, it is alive for the first read or recorded for the second.
    let live = lock::live_leases(&store.dir(LOCKS_DIR))?;
    let held = holds.holds()?;
    let world = read_world(session)?;
    let marked = mark(&world, &live, &held);
    let mut swept = Swept::default();
    delete_dead_rows(session, &world, &marked)?;
    crash_point("gc-after-meta");
    for (id, path) in list_dir(&store.dir(SNAPSHOTS_DIR))? {
        if marked.snapshots.contains(&id) {
            continue;
        }
        swept.bytes += match world.snapshots.get(&id) {
            Some(info) => info.size,
            None => measure_tree(&path).map(|t| t.size).unwrap_or(0),
        };
        swept.snapshots += 1;
        swept.trash.push(move_to_trash(session, &path)?);
        crash_point("gc-mid-trash");
    }
    for (name, path) in list_dir(&store.dir(BLOBS_DIR))? {
        let keep = Digest::from_hex(&name).is_some_and(|d| marked.blobs.contains(&d));
        if keep {
            continue;
        }
        swept.bytes += fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
        swept.blobs += 1;
        swept.trash.push(move_to_trash(session, &path)?);
    }
    durable::sync_dir(&store.dir(SNAPSHOTS_DIR)).map_err(io_context("flushing snapshots/"))?;
    durable::sync_dir(&store.dir(BLOBS_DIR)).map_err(io_context("flushing blobs/"))?;
    swept
        .trash
        .extend(dead_tmp_entries(&store.dir(TMP_DIR), &live)?);
    Ok(swept)
}

fn delete_dead_rows(
    session: &mut Session<'_>,
    world: &World,
    marked: &Marked,
) -> Result<(), StoreError> {
    let dead: Vec<&String> = world
        .snapshots
        .keys()
        .filter(|s| !marked.snapshots.contains(*s))
        .collect();
    let live_diff_ids: HashSet<String> = marked
        .snapshots
        .iter()
        .filter_map(|s| world.snapshots.get(s)?.diff_id.map(|d| d.to_string()))
        .collect();
    let tx = session.write()?;
    {
        let mut snaps = tx.open_table(SNAPSHOTS).map_err(MetaError::from)?;
        for s in &dead {
            snaps.remove(s.as_str()).map_err(MetaError::from)?;
        }
        let mut diff_ids = tx.open_table(DIFF_IDS).map_err(MetaError::from)?;
        for (diff_id, snap) in &world.diff_ids {
            if !marked.snapshots.contains(snap) {
                diff_ids.remove(diff_id.as_str()).map_err(MetaError::from)?;
            }
        }
        let mut variants = tx.open_table(VARIANTS).map_err(MetaError::from)?;
        for (key, _) in &world.variants {
            if !variant_diff_id(key).is_some_and(|d| live_diff_ids.contains(d)) {
                variants.remove(key.as_str()).map_err(MetaError::from)?;
            }
        }
    }
    tx.commit().map_err(MetaError::from)?;
    Ok(())
}

/// Entries of a store directory by name.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(io_context(format!("listing {}", dir.display())))?;
    for e in entries {
        let e = e.map_err(io_context(format!("listing {}", dir.display())))?;
        out.push((e.file_name().to_string_lossy().into_owned(), e.path()));
    }
    out.sort();
    Ok(out)
}

fn move_to_trash(session: &Session<'_>, path: &Path) -> Result<PathBuf, StoreError> {
    let trash = session.store.tmp_path("trash")?;
    fs::rename(path, &trash).map_err(io_context(format!("removing {}", path.display())))?;
    Ok(trash)
}

/// `tmp/` entries whose lease is dead: a crashed writer's staging.
pub(crate) fn dead_tmp_entries(tmp: &Path, live: &LiveLeases) -> Result<Vec<PathBuf>, StoreError> {
    Ok(list_dir(tmp)?
        .into_iter()
        .filter(|(name, _)| {
            let owner = name.split('-').next().unwrap_or("");
            !(id::is_valid_id(owner) && live.ids.contains(owner))
        })
        .map(|(_, path)| path)
        .collect())
}

/// Deletes the trash; returns nothing to fail on, since what remains is
/// removed by the next collection.
pub(crate) fn empty_trash(swept: &Swept) -> u64 {
    crash_point("gc-before-empty-trash");
    for path in &swept.trash {
        let removed = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(_) => Ok(()),
        };
        let _ = removed;
    }
    swept.bytes
}
