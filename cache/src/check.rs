//! `cache check [--repair]`: proves the store is whole. Every blob hashes
//! to its name; every snapshot exists with its recorded size and tree
//! digest; every reference between metadata entries resolves. `repair`
//! quarantines corrupt content (moves it to `quarantine/`), drops the
//! entries that depended on it, and says what it did.
//!
//! A container (a [`Hold`]) whose layers are gone is a problem no repair
//! can fix: the store says which, and the container must be removed.
//!
//! Unreferenced content is not a problem: a crash between writing data and
//! recording it leaves some, by design, and GC removes it. Leftover `tmp/`
//! entries of dead processes are removed at once.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;

use rayon::prelude::*;
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::de::DeserializeOwned;

use crate::blobs::{hash_file, BlobRef};
use crate::digest::Digest;
use crate::gc::{self, list_dir};
use crate::hold::{Hold, Holds};
use crate::image_store::{ImageRecord, LayerRecord};
use crate::layer::{diff_measured_aside, DiffOptions};
use crate::lock;
use crate::meta::{
    self, MetaError, DIFF_IDS, IMAGES, RECORDS, RECORD_KEYS, REFS, SNAPSHOTS, VARIANTS,
};
use crate::record::CacheRecord;
use crate::reference::Reference;
use crate::snapshot::SnapshotInfo;
use crate::store::{
    io_context, Session, Store, StoreError, BLOBS_DIR, LOCKS_DIR, QUARANTINE_DIR, SNAPSHOTS_DIR,
    TMP_DIR,
};
use crate::tree_measure::{measure_tree, TreeMeasure};

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub description: String,
    /// What `--repair` did about it; `None` without `--repair`.
    pub repair: Option<String>,
}

/// The result of a check.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub blobs: usize,
    pub snapshots: usize,
    pub images: usize,
    pub records: usize,
    pub problems: Vec<Problem>,
    /// Leftover `tmp/` entries of dead processes, removed.
    pub tmp_removed: usize,
    /// Blobs and snapshots nothing references (freed by the next prune).
    pub unreferenced: usize,
}

impl CheckReport {
    /// True when nothing is wrong, or everything wrong was repaired.
    pub fn is_healthy(&self) -> bool {
        self.problems.iter().all(|p| p.repair.is_some())
    }
}

/// A change `--repair` makes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Fix {
    DeleteRow(&'static str, String),
    ClearParent(String),
    Quarantine(PathBuf),
}

impl Store {
    /// Checks the store, and that every snapshot `holds` names (the layers
    /// of containers) is there.
    pub fn check(&self, repair: bool, holds: &dyn Holds) -> Result<CheckReport, StoreError> {
        // Content hashing is the slow part and needs no lock: blobs and
        // snapshots never change once visible; one that vanishes meanwhile
        // was collected and is skipped.
        let blob_hashes = hash_blobs(&self.dir(BLOBS_DIR))?;
        let made = self.made_layers()?;
        let snapshot_trees = measure_snapshots(&self.dir(SNAPSHOTS_DIR), &made)?;
        let mut session = self.session()?;
        let live = lock::live_leases(&self.dir(LOCKS_DIR))?;
        let held = holds.holds()?;
        let mut report = CheckReport {
            tmp_removed: remove_dead_tmp(&session, &live)?,
            ..CheckReport::default()
        };
        let mut seen = HashSet::new();
        for _round in 0..8 {
            let (fixes, problems) =
                find_problems(&mut session, &blob_hashes, &snapshot_trees, &mut report)?;
            let fresh: Vec<(Fix, String)> = fixes
                .into_iter()
                .zip(problems)
                .filter(|(f, _)| seen.insert(f.clone()))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for (fix, description) in &fresh {
                let done = repair.then(|| describe(fix));
                report.problems.push(Problem {
                    description: description.clone(),
                    repair: done,
                });
            }
            if !repair {
                break;
            }
            apply(&mut session, fresh.into_iter().map(|(f, _)| f).collect())?;
        }
        let world = gc::read_world(&mut session)?;
        report.problems.extend(missing_held(self, &world, &held));
        let marked = gc::mark(&world, &live, &held);
        report.unreferenced = unreferenced(&session, &marked)?;
        Ok(report)
    }
}

/// Holders whose snapshots (or a parent of one) are not in the store, in
/// metadata or on disk: a container that cannot start.
fn missing_held(store: &Store, world: &gc::World, held: &[Hold]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for hold in held {
        let mut seen = HashSet::new();
        let mut stack: Vec<String> = hold.snapshots.iter().map(|s| s.to_string()).collect();
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let info = world.snapshots.get(&id);
            let on_disk = store.dir(SNAPSHOTS_DIR).join(&id).is_dir();
            match info {
                Some(info) if on_disk => stack.extend(info.parent.iter().map(|p| p.to_string())),
                _ => problems.push(Problem {
                    description: format!(
                        "{hold} needs snapshot {id}, a layer of its image, which is missing: \
                         the container cannot run; remove it"
                    ),
                    repair: None,
                }),
            }
        }
    }
    problems
}

fn hash_blobs(dir: &std::path::Path) -> Result<HashMap<String, Option<Digest>>, StoreError> {
    let entries = list_dir(dir)?;
    Ok(entries
        .par_iter()
        .filter_map(|(name, path)| match hash_file(path) {
            Ok(d) => Some((name.clone(), Some(d))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(_) => Some((name.clone(), None)),
        })
        .collect())
}

impl Store {
    /// The snapshots whose layer kiln hashed and makes from them when read
    /// (a diff_id and a tar size): their tar is checked too, since it
    /// also carries what the tree's measure leaves out (mtimes).
    fn made_layers(&self) -> Result<HashSet<String>, StoreError> {
        let mut session = self.session()?;
        let tx = session.read()?;
        Ok(rows::<SnapshotInfo>(&tx, SNAPSHOTS, "snapshots")?
            .into_iter()
            .filter_map(|(k, v)| v.ok()?.hashed_layer().map(|_| k))
            .collect())
    }
}

/// A snapshot as read from disk: its tree's measure and, for a layer kiln
/// makes from it, the diff_id and size its tar has now.
struct Measured {
    tree: TreeMeasure,
    tar: Option<BlobRef>,
}

fn measure_snapshots(
    dir: &std::path::Path,
    made: &HashSet<String>,
) -> Result<HashMap<String, Option<Measured>>, StoreError> {
    let entries = list_dir(dir)?;
    Ok(entries
        .par_iter()
        .map(|(name, path)| (name.clone(), measure(path, made.contains(name))))
        .collect())
}

fn measure(path: &std::path::Path, made: bool) -> Option<Measured> {
    if !made {
        let tree = measure_tree(path).ok()?;
        return Some(Measured { tree, tar: None });
    }
    // One pass gives both.
    let (digests, tree) = diff_measured_aside(path, &DiffOptions::default()).ok()?;
    Some(Measured {
        tree,
        tar: Some(digests.blob()),
    })
}

fn remove_dead_tmp(session: &Session<'_>, live: &lock::LiveLeases) -> Result<usize, StoreError> {
    let dead = gc::dead_tmp_entries(&session.store.dir(TMP_DIR), live)?;
    for path in &dead {
        let _ = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(path),
            _ => fs::remove_file(path),
        };
    }
    Ok(dead.len())
}

/// Every entry of a JSON table, decoded or not.
fn rows<T: DeserializeOwned>(
    tx: &redb::ReadTransaction,
    def: TableDefinition<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Vec<meta::Row<T>>, StoreError> {
    let table = tx.open_table(def).map_err(MetaError::from)?;
    let _ = table.len().map_err(MetaError::from)?;
    Ok(meta::all_json(&table, name)?)
}

struct Found<'a> {
    fixes: Vec<Fix>,
    problems: Vec<String>,
    blob_ok: &'a dyn Fn(&Digest) -> bool,
}

impl Found<'_> {
    fn add(&mut self, fix: Fix, problem: String) {
        self.fixes.push(fix);
        self.problems.push(problem);
    }
}

fn find_problems(
    session: &mut Session<'_>,
    blob_hashes: &HashMap<String, Option<Digest>>,
    trees: &HashMap<String, Option<Measured>>,
    report: &mut CheckReport,
) -> Result<(Vec<Fix>, Vec<String>), StoreError> {
    let store = session.store;
    let blobs_dir = store.dir(BLOBS_DIR);
    let blob_ok = |d: &Digest| {
        store.blob_path(d).is_file()
            && blob_hashes
                .get(&d.hex())
                .is_none_or(|h| h.as_ref() == Some(d))
    };
    let mut found = Found {
        fixes: Vec::new(),
        problems: Vec::new(),
        blob_ok: &blob_ok,
    };
    report.blobs = blob_hashes.len();
    for (name, hash) in blob_hashes {
        let path = blobs_dir.join(name);
        if !path.exists() {
            continue;
        }
        match (Digest::from_hex(name), hash) {
            (None, _) => found.add(
                Fix::Quarantine(path),
                format!("blobs/sha256/{name} is not named by a digest"),
            ),
            (Some(d), Some(h)) if d == *h => {}
            (Some(d), Some(h)) => found.add(
                Fix::Quarantine(path),
                format!("blob {d} is corrupt: its content hashes to {h}"),
            ),
            (Some(d), None) => found.add(Fix::Quarantine(path), format!("blob {d} is unreadable")),
        }
    }
    let tx = session.read()?;
    let snapshots = check_snapshots(&tx, store, trees, &mut found, report)?;
    check_images(&tx, &snapshots, &mut found, report)?;
    check_records(&tx, &snapshots, &mut found, report)?;
    check_indexes(&tx, &snapshots, &mut found)?;
    Ok((found.fixes, found.problems))
}

fn check_snapshots(
    tx: &redb::ReadTransaction,
    store: &Store,
    trees: &HashMap<String, Option<Measured>>,
    found: &mut Found<'_>,
    report: &mut CheckReport,
) -> Result<Sound, StoreError> {
    let all = rows::<SnapshotInfo>(tx, SNAPSHOTS, "snapshots")?;
    report.snapshots = all.len();
    let present: HashMap<String, SnapshotInfo> = all
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_ref().ok()?.clone())))
        .collect();
    // Cache mounts change in place by design: their trees are not checked.
    let mutable: HashSet<String> = rows::<CacheRecord>(tx, RECORDS, "records")?
        .into_iter()
        .filter_map(|(_, r)| r.ok())
        .filter(|r| r.kind.is_mutable())
        .filter_map(|r| r.snapshot.map(|s| s.as_str().to_string()))
        .collect();
    let mut good = Sound::new();
    for (key, info) in all {
        let info = match info {
            Ok(i) => i,
            Err(e) => {
                found.add(Fix::DeleteRow("snapshots", key), e.to_string());
                continue;
            }
        };
        let path = store.snapshot_path(&info.id);
        let problem = if !path.is_dir() {
            Some((
                Fix::DeleteRow("snapshots", key.clone()),
                "is missing".to_string(),
            ))
        } else {
            match trees.get(&key) {
                Some(Some(m)) if !gives_its_layer(m, &info) => Some((
                    Fix::Quarantine(path),
                    "has changed on disk: its tar is no longer its layer's".to_string(),
                )),
                Some(Some(Measured { tree: t, .. }))
                    if t.size == info.size && t.digest == info.tree_digest =>
                {
                    None
                }
                Some(Some(_)) if mutable.contains(&key) => None,
                Some(Some(Measured { tree: t, .. })) => Some((
                    Fix::Quarantine(path),
                    format!(
                        "has changed on disk (size {} recorded {}, or its content)",
                        t.size, info.size
                    ),
                )),
                Some(None) => Some((Fix::Quarantine(path), "is unreadable".to_string())),
                None => None,
            }
        };
        let parent_missing = info
            .parent
            .as_ref()
            .filter(|p| !present.contains_key(p.as_str()));
        match (problem, parent_missing) {
            (Some((fix, what)), _) => found.add(fix, format!("snapshot {key} {what}")),
            (None, Some(p)) => found.add(
                Fix::DeleteRow("snapshots", key.clone()),
                format!("snapshot {key} sits on snapshot {p}, which is missing"),
            ),
            (None, None) => {
                good.insert(key, info);
            }
        }
    }
    Ok(good)
}

/// Whether a snapshot's tar, when it was measured, is still the layer its
/// record names.
fn gives_its_layer(m: &Measured, info: &SnapshotInfo) -> bool {
    match (m.tar, info.hashed_layer()) {
        (Some(tar), Some(layer)) => tar == layer,
        _ => true,
    }
}

/// The snapshots found whole, by ID.
type Sound = HashMap<String, SnapshotInfo>;

fn check_images(
    tx: &redb::ReadTransaction,
    snapshots: &Sound,
    found: &mut Found<'_>,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let all = rows::<ImageRecord>(tx, IMAGES, "images")?;
    report.images = all.len();
    let mut good = HashSet::new();
    for (key, image) in all {
        let image = match image {
            Ok(i) => i,
            Err(e) => {
                found.add(Fix::DeleteRow("images", key), e.to_string());
                continue;
            }
        };
        // A layer kiln made is whole without its blob: the blob is made
        // from the (sound) snapshot when read.
        let made = |l: &LayerRecord| {
            snapshots
                .get(l.snapshot.as_str())
                .is_some_and(|s| l.is_made_from(s))
        };
        let blobs: Vec<&BlobRef> = image.blobs_on_disk(made).collect();
        let bad_blob = blobs.iter().find(|b| !(found.blob_ok)(&b.digest));
        let bad_snap = image
            .layers
            .iter()
            .find(|l| !snapshots.contains_key(l.snapshot.as_str()));
        let missing = match (bad_blob, bad_snap) {
            (Some(b), _) => Some(format!("blob {}", b.digest)),
            (None, Some(l)) => Some(format!("snapshot {}", l.snapshot)),
            (None, None) => None,
        };
        match missing {
            Some(m) => found.add(
                Fix::DeleteRow("images", key),
                format!(
                    "image {} needs {m}, which is missing or corrupt",
                    image.id().short()
                ),
            ),
            None => {
                good.insert(key);
            }
        }
    }
    let refs = tx.open_table(REFS).map_err(MetaError::from)?;
    for (name, target) in meta::all_str(&refs)? {
        if Reference::parse_normalized(&name).is_err() {
            found.add(
                Fix::DeleteRow("refs", name.clone()),
                format!("ref {name:?} is not a valid reference"),
            );
        } else if !good.contains(&target) {
            found.add(
                Fix::DeleteRow("refs", name.clone()),
                format!("ref {name} points at image {target}, which is missing or broken"),
            );
        }
    }
    Ok(())
}

fn check_records(
    tx: &redb::ReadTransaction,
    snapshots: &Sound,
    found: &mut Found<'_>,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let all = rows::<CacheRecord>(tx, RECORDS, "records")?;
    report.records = all.len();
    let ids: HashSet<String> = all
        .iter()
        .filter(|(_, r)| {
            r.as_ref().is_ok_and(|r| {
                r.snapshot
                    .as_ref()
                    .is_none_or(|s| snapshots.contains_key(s.as_str()))
            })
        })
        .map(|(k, _)| k.clone())
        .collect();
    for (key, record) in &all {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                found.add(Fix::DeleteRow("records", key.clone()), e.to_string());
                continue;
            }
        };
        if let Some(s) = record
            .snapshot
            .as_ref()
            .filter(|s| !snapshots.contains_key(s.as_str()))
        {
            found.add(
                Fix::DeleteRow("records", key.clone()),
                format!("cache record {key} needs snapshot {s}, which is missing or broken"),
            );
        } else if let Some(p) = record.parent.as_ref().filter(|p| !ids.contains(*p)) {
            found.add(
                Fix::ClearParent(key.clone()),
                format!("cache record {key} has parent {p}, which is missing"),
            );
        }
    }
    let keys = tx.open_table(RECORD_KEYS).map_err(MetaError::from)?;
    for (k, id) in meta::all_str(&keys)? {
        if !ids.contains(&id) {
            found.add(
                Fix::DeleteRow("record_keys", k.clone()),
                format!("cache key {k} maps to record {id}, which is missing"),
            );
        }
    }
    Ok(())
}

fn check_indexes(
    tx: &redb::ReadTransaction,
    snapshots: &Sound,
    found: &mut Found<'_>,
) -> Result<(), StoreError> {
    let diff_ids = tx.open_table(DIFF_IDS).map_err(MetaError::from)?;
    for (d, s) in meta::all_str(&diff_ids)? {
        if !snapshots.contains_key(&s) {
            found.add(
                Fix::DeleteRow("diff_ids", d.clone()),
                format!("layer {d} maps to snapshot {s}, which is missing or broken"),
            );
        }
    }
    for (k, v) in rows::<BlobRef>(tx, VARIANTS, "variants")? {
        let ok = v.as_ref().is_ok_and(|b| (found.blob_ok)(&b.digest));
        if !ok {
            found.add(
                Fix::DeleteRow("variants", k.clone()),
                format!("compressed layer {k} is missing or corrupt"),
            );
        }
    }
    Ok(())
}

fn describe(fix: &Fix) -> String {
    match fix {
        Fix::DeleteRow(table, key) => format!("removed {table} entry {key}"),
        Fix::ClearParent(id) => format!("cleared the parent of cache record {id}"),
        Fix::Quarantine(path) => format!(
            "moved {} to {QUARANTINE_DIR}/",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ),
    }
}

fn apply(session: &mut Session<'_>, fixes: Vec<Fix>) -> Result<(), StoreError> {
    let quarantine = session.store.dir(QUARANTINE_DIR);
    let tx = session.write()?;
    for fix in &fixes {
        match fix {
            Fix::DeleteRow(table, key) => delete_row(&tx, table, key)?,
            Fix::ClearParent(id) => {
                let mut t = tx.open_table(RECORDS).map_err(MetaError::from)?;
                let rec = t
                    .get(id.as_str())
                    .map_err(MetaError::from)?
                    .map(|v| v.value().to_vec());
                if let Some(bytes) = rec {
                    let mut r: CacheRecord = meta::decode("records", id, &bytes)?;
                    r.parent = None;
                    t.insert(id.as_str(), meta::encode(&r)?.as_slice())
                        .map_err(MetaError::from)?;
                }
            }
            Fix::Quarantine(_) => {}
        }
    }
    tx.commit().map_err(MetaError::from)?;
    // Metadata first: a row must never outlive the data it names.
    for fix in &fixes {
        if let Fix::Quarantine(path) = fix {
            fs::create_dir_all(&quarantine).map_err(io_context("creating quarantine/"))?;
            let parent = path
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dest = quarantine.join(format!("{}-{name}", parent.unwrap_or_default()));
            fs::rename(path, &dest)
                .map_err(io_context(format!("quarantining {}", path.display())))?;
        }
    }
    Ok(())
}

fn delete_row(tx: &redb::WriteTransaction, table: &str, key: &str) -> Result<(), StoreError> {
    let bytes_table = match table {
        "snapshots" => Some(SNAPSHOTS),
        "images" => Some(IMAGES),
        "records" => Some(RECORDS),
        "variants" => Some(VARIANTS),
        _ => None,
    };
    if let Some(def) = bytes_table {
        let mut t = tx.open_table(def).map_err(MetaError::from)?;
        t.remove(key).map_err(MetaError::from)?;
        return Ok(());
    }
    let str_table = match table {
        "refs" => REFS,
        "record_keys" => RECORD_KEYS,
        _ => DIFF_IDS,
    };
    let mut t = tx.open_table(str_table).map_err(MetaError::from)?;
    t.remove(key).map_err(MetaError::from)?;
    Ok(())
}

fn unreferenced(session: &Session<'_>, marked: &gc::Marked) -> Result<usize, StoreError> {
    let store = session.store;
    let snaps = list_dir(&store.dir(SNAPSHOTS_DIR))?
        .into_iter()
        .filter(|(n, _)| !marked.snapshots.contains(n))
        .count();
    let blobs = list_dir(&store.dir(BLOBS_DIR))?
        .into_iter()
        .filter(|(n, _)| !Digest::from_hex(n).is_some_and(|d| marked.blobs.contains(&d)))
        .count();
    Ok(snaps + blobs)
}
