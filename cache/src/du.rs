//! Disk usage: per cache record (`cache du`, like `buildx du`) and per
//! kind of thing in the store (`system df`, like `docker system df`).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;

use crate::gc::{self, World};
use crate::lock;
use crate::record::CacheRecord;
use crate::store::{Store, StoreError, CONTAINERS_DIR, LOCKS_DIR, VOLUMES_DIR};

/// One record as `cache du --verbose` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordUsage {
    pub record: CacheRecord,
    /// Bytes of its snapshot now.
    pub size: u64,
    pub mutable: bool,
    /// Not needed by an image and not in use by a running kiln: a prune
    /// may remove it.
    pub reclaimable: bool,
    /// Its snapshot is also another record's, or an image's.
    pub shared: bool,
    /// In use by an image or a running process.
    pub in_use: bool,
}

/// `cache du`: every record, biggest first, and the totals.
#[derive(Debug, Clone, Serialize)]
pub struct DiskUsage {
    pub records: Vec<RecordUsage>,
}

/// The four totals `buildx du` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UsageTotals {
    pub shared: u64,
    pub private: u64,
    pub reclaimable: u64,
    pub total: u64,
}

impl DiskUsage {
    pub fn totals(&self) -> UsageTotals {
        let mut t = UsageTotals::default();
        for r in &self.records {
            if r.shared {
                t.shared += r.size;
            } else {
                t.private += r.size;
            }
            if r.reclaimable {
                t.reclaimable += r.size;
            }
            t.total += r.size;
        }
        t
    }
}

/// One line of `system df`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DfRow {
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// `system df`: images, containers, volumes, build cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SystemDf {
    pub images: DfRow,
    pub containers: DfRow,
    pub volumes: DfRow,
    pub build_cache: DfRow,
}

impl Store {
    pub fn disk_usage(&self) -> Result<DiskUsage, StoreError> {
        let mut session = self.session()?;
        let live = lock::live_leases(&self.dir(LOCKS_DIR))?;
        let world = gc::read_world(&mut session)?;
        drop(session);
        Ok(usage(world, &live.snapshots))
    }

    pub fn system_df(&self) -> Result<SystemDf, StoreError> {
        let mut session = self.session()?;
        let live = lock::live_leases(&self.dir(LOCKS_DIR))?;
        let world = gc::read_world(&mut session)?;
        drop(session);
        let images = image_row(&world);
        let cache = usage(world, &live.snapshots);
        let t = cache.totals();
        let build_cache = DfRow {
            total: cache.records.len(),
            active: cache.records.iter().filter(|r| r.in_use).count(),
            size: t.total,
            reclaimable: t.reclaimable,
        };
        Ok(SystemDf {
            images,
            containers: dir_row(&self.dir(CONTAINERS_DIR)),
            volumes: dir_row(&self.dir(VOLUMES_DIR)),
            build_cache,
        })
    }
}

fn usage(world: World, leased: &HashSet<String>) -> DiskUsage {
    // Containers' holds are not known here (no caller passes them): a
    // record only they keep shows as reclaimable, and a prune keeps it.
    let protected = gc::image_snapshots(&world, &[]);
    let mut owners: HashMap<&str, usize> = HashMap::new();
    for r in &world.records {
        if let Some(s) = &r.snapshot {
            *owners.entry(s.as_str()).or_default() += 1;
        }
    }
    let mut records: Vec<RecordUsage> = world
        .records
        .iter()
        .map(|r| {
            let snap = r.snapshot.as_ref().map(|s| s.as_str());
            let size = snap
                .and_then(|s| world.snapshots.get(s))
                .map_or(r.size, |i| i.size);
            let by_image = snap.is_some_and(|s| protected.contains(s));
            let in_use = by_image || snap.is_some_and(|s| leased.contains(s));
            let shared = by_image || snap.is_some_and(|s| owners.get(s).copied().unwrap_or(0) > 1);
            RecordUsage {
                record: r.clone(),
                size,
                mutable: r.kind.is_mutable(),
                reclaimable: !in_use,
                shared,
                in_use,
            }
        })
        .collect();
    records.sort_by(|a, b| {
        b.size
            .cmp(&a.size)
            .then_with(|| b.record.last_used.cmp(&a.record.last_used))
            .then_with(|| a.record.id.cmp(&b.record.id))
    });
    DiskUsage { records }
}

/// Images: their layers counted once however many images share them.
/// An image is active while a container uses it; kiln's containers are the
/// runtime's, so every image counts as reclaimable here except shared
/// layers, which `rmi` of one image would not free.
fn image_row(world: &World) -> DfRow {
    let mut users: HashMap<&str, usize> = HashMap::new();
    for e in &world.images {
        let unique: HashSet<&str> = e.image.layers.iter().map(|l| l.snapshot.as_str()).collect();
        for s in unique {
            *users.entry(s).or_default() += 1;
        }
    }
    let size_of = |s: &str| world.snapshots.get(s).map_or(0, |i| i.size);
    let size = users.keys().map(|s| size_of(s)).sum();
    let reclaimable = users
        .iter()
        .filter(|(_, n)| **n == 1)
        .map(|(s, _)| size_of(s))
        .sum();
    DfRow {
        total: world.images.len(),
        active: 0,
        size,
        reclaimable,
    }
}

/// A directory of per-item subdirectories (containers, volumes).
fn dir_row(dir: &Path) -> DfRow {
    let Ok(entries) = fs::read_dir(dir) else {
        return DfRow::default();
    };
    let mut row = DfRow::default();
    for e in entries.flatten() {
        row.total += 1;
        let size = apparent_size(&e.path());
        row.size += size;
        row.reclaimable += size;
    }
    row
}

fn apparent_size(path: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !md.is_dir() {
        return if md.is_file() { md.size() } else { 0 };
    }
    fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| apparent_size(&e.path())).sum())
        .unwrap_or(0)
}
