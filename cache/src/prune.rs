//! `cache prune`: removes cache records, least recently used first, then
//! collects what no longer has a root. Never removes a record whose
//! snapshot an image or a container needs, nor one a running kiln has
//! leased.
//!
//! Without `all`, `source.image` records (layers of images that were
//! loaded, imported or pulled) are kept, as BuildKit keeps its internal
//! records unless `--all`: base layers are what the next build wants.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use crate::crashpoint::crash_point;
use crate::gc::{self, World};
use crate::hold::{Hold, Holds};
use crate::lock;
use redb::ReadableTable;

use crate::meta::{MetaError, RECORDS, RECORD_KEYS};
use crate::record::{CacheRecord, RecordKind};
use crate::store::{Store, StoreError, LOCKS_DIR};

/// What to prune (`--all`, `--filter until=`, `--keep-storage`).
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Also remove `source.image` records.
    pub all: bool,
    /// Only records not used for at least this long.
    pub until: Option<Duration>,
    /// Stop once the build cache is at most this many bytes.
    pub keep_storage: Option<u64>,
    /// `--filter type=…`: only records of these kinds (empty: every kind).
    /// Naming `source.image` here selects those records without `all`.
    pub kinds: Vec<RecordKind>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// IDs of the removed cache records.
    pub deleted: Vec<String>,
    /// Bytes freed on disk (snapshots and blobs actually deleted).
    pub reclaimed: u64,
}

impl Store {
    /// Prunes the build cache; see [`PruneOptions`]. What `holds` names
    /// (containers' layers) stays, with its records.
    pub fn prune(
        &self,
        options: &PruneOptions,
        holds: &dyn Holds,
    ) -> Result<PruneReport, StoreError> {
        let mut session = self.write_session()?;
        let live = lock::live_leases(&self.dir(LOCKS_DIR))?;
        let held = holds.holds()?;
        let world = gc::read_world(&mut session)?;
        let victims = select(&world, &live.snapshots, &held, options, SystemTime::now());
        let tx = session.write()?;
        {
            let mut records = tx.open_table(RECORDS).map_err(MetaError::from)?;
            let mut keys = tx.open_table(RECORD_KEYS).map_err(MetaError::from)?;
            for r in &victims {
                records.remove(r.id.as_str()).map_err(MetaError::from)?;
                if let Some(k) = &r.cache_key {
                    // The key may have moved on to a newer record.
                    let maps_here = keys
                        .get(k.as_str())
                        .map_err(MetaError::from)?
                        .is_some_and(|v| v.value() == r.id);
                    if maps_here {
                        keys.remove(k.as_str()).map_err(MetaError::from)?;
                    }
                }
            }
        }
        tx.commit().map_err(MetaError::from)?;
        crash_point("prune-after-records");
        // The same holds again, not `held`: a container may have been
        // recorded since (its creator's lease is read first, see gc.rs).
        let swept = gc::collect_in(&mut session, holds)?;
        drop(session);
        let reclaimed = gc::empty_trash(&swept);
        Ok(PruneReport {
            deleted: victims.into_iter().map(|r| r.id).collect(),
            reclaimed,
        })
    }

    /// Removes only what nothing references (crash leftovers, blobs of
    /// removed images, layers no container holds); returns the bytes freed.
    pub fn collect_garbage(&self, holds: &dyn Holds) -> Result<u64, StoreError> {
        let mut session = self.write_session()?;
        let swept = gc::collect_in(&mut session, holds)?;
        drop(session);
        Ok(gc::empty_trash(&swept))
    }
}

/// The records to remove, oldest use first.
pub(crate) fn select(
    world: &World,
    leased: &HashSet<String>,
    held: &[Hold],
    options: &PruneOptions,
    now: SystemTime,
) -> Vec<CacheRecord> {
    let protected = gc::image_snapshots(world, held);
    let in_use = |r: &CacheRecord| {
        r.snapshot
            .as_ref()
            .is_some_and(|s| protected.contains(s.as_str()) || leased.contains(s.as_str()))
    };
    let old_enough = |r: &CacheRecord| match options.until {
        Some(d) => now.duration_since(r.last_used).unwrap_or_default() >= d,
        None => true,
    };
    let kind_ok = |r: &CacheRecord| match options.kinds.is_empty() {
        true => options.all || r.kind != RecordKind::SourceImage,
        false => options.kinds.contains(&r.kind),
    };
    let mut candidates: Vec<&CacheRecord> = world
        .records
        .iter()
        .filter(|r| !in_use(r) && old_enough(r) && kind_ok(r))
        .collect();
    candidates.sort_by_key(|r| (r.last_used, r.id.clone()));
    if let Some(keep) = options.keep_storage {
        let mut total: u64 = world.records.iter().map(|r| r.size).sum();
        candidates.retain(|r| {
            if total <= keep {
                return false;
            }
            total = total.saturating_sub(r.size);
            true
        });
    }
    keep_parents_of_survivors(world, candidates)
}

/// A record whose child stays is kept too: the child's `parent` link must
/// not dangle. Repeats until nothing changes.
fn keep_parents_of_survivors(world: &World, mut chosen: Vec<&CacheRecord>) -> Vec<CacheRecord> {
    loop {
        let ids: HashSet<&str> = chosen.iter().map(|r| r.id.as_str()).collect();
        let needed: HashSet<&str> = world
            .records
            .iter()
            .filter(|r| !ids.contains(r.id.as_str()))
            .filter_map(|r| r.parent.as_deref())
            .collect();
        let before = chosen.len();
        chosen.retain(|r| !needed.contains(r.id.as_str()));
        if chosen.len() == before {
            return chosen.into_iter().cloned().collect();
        }
    }
}
