//! Cache records: one per result the build cache can reuse (a step's
//! snapshot, an image layer). The solver finds them by cache key; `cache
//! du/ls/inspect/prune` show and remove them; `cache why` reads their
//! ingredients. Stored as JSON with defaults, so fields can be added later
//! without a migration.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::id;
use crate::lock::Leased;
use crate::meta::{self, MetaError, RECORDS, RECORD_KEYS};
use crate::snapshot::{snapshot_in, SnapshotId};
use crate::store::{Session, Store, StoreError};
use crate::usage::{self, Pending};

/// The kind of a record, named as BuildKit's `du` names its types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecordKind {
    /// A build step's result.
    #[serde(rename = "regular")]
    Regular,
    /// A layer of an image that entered the store by import, load or pull.
    #[serde(rename = "source.image")]
    SourceImage,
    /// Files of a build context.
    #[serde(rename = "source.local")]
    SourceLocal,
    /// A `RUN --mount=type=cache` directory; mutable.
    #[serde(rename = "exec.cachemount")]
    CacheMount,
    /// Written by a newer kiln; kept and shown, never misread.
    #[serde(other, rename = "unknown")]
    Unknown,
}

impl RecordKind {
    /// The name `du` prints in its Type column.
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordKind::Regular => "regular",
            RecordKind::SourceImage => "source.image",
            RecordKind::SourceLocal => "source.local",
            RecordKind::CacheMount => "exec.cachemount",
            RecordKind::Unknown => "unknown",
        }
    }

    /// Cache mounts change in place; everything else is immutable.
    pub fn is_mutable(&self) -> bool {
        matches!(self, RecordKind::CacheMount)
    }
}

/// One input of a cache key, kept so `kiln cache why` can say which one
/// changed: `("instruction", "RUN make")`, `("parent", "<key>")`,
/// `("file:src/main.rs", "<blake3>")`, `("build-arg:VERSION", "1.2")`.
/// Most names are one of a few fixed words (`kind`, `parent`, `cmd`), kept
/// borrowed: a 100,000-step plan holds about a million of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingredient {
    pub name: std::borrow::Cow<'static, str>,
    pub value: String,
}

impl Ingredient {
    pub fn new(
        name: impl Into<std::borrow::Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Ingredient {
        Ingredient {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A cache record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    pub id: String,
    /// blake3 hex of the ingredients; `None` for records no key finds
    /// (image layers added by `load`).
    #[serde(default)]
    pub cache_key: Option<String>,
    /// The record of the previous step.
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub snapshot: Option<SnapshotId>,
    #[serde(default)]
    pub ingredients: Vec<Ingredient>,
    /// The step, as progress shows it: `[build 2/4] RUN make`.
    #[serde(default)]
    pub description: String,
    pub created: SystemTime,
    pub last_used: SystemTime,
    #[serde(default)]
    pub usage_count: u64,
    /// Bytes of the snapshot when the record was made.
    #[serde(default)]
    pub size: u64,
    pub kind: RecordKind,
}

/// What the caller supplies for a new record.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub cache_key: Option<String>,
    pub parent: Option<String>,
    pub snapshot: Option<SnapshotId>,
    pub ingredients: Vec<Ingredient>,
    pub description: String,
    pub kind: RecordKind,
}

impl Store {
    /// Adds a record. Its snapshot and parent must exist. A cache key already
    /// mapped to another record now maps to this one (two builds that missed
    /// at once); the older record stays until pruned.
    pub fn add_record(&self, new: NewRecord) -> Result<CacheRecord, StoreError> {
        let mut session = self.write_session()?;
        let record = new_record_in(&mut session, new)?;
        let tx = session.write()?;
        {
            put_record(&tx, &record)?;
            if let Some(key) = &record.cache_key {
                let mut keys = tx.open_table(RECORD_KEYS).map_err(MetaError::from)?;
                keys.insert(key.as_str(), record.id.as_str())
                    .map_err(MetaError::from)?;
            }
        }
        tx.commit().map_err(MetaError::from)?;
        Ok(record)
    }

    /// A record by its full ID.
    pub fn record(&self, id: &str) -> Result<Option<CacheRecord>, StoreError> {
        let mut session = self.session()?;
        record_in(&mut session, id)
    }

    /// The record a cache key maps to. Does not count as a use: call
    /// [`Store::use_record`] when the build takes it. Its snapshot is
    /// leased to this process already, so a prune between the two keeps it.
    pub fn record_by_key(&self, cache_key: &str) -> Result<Option<CacheRecord>, StoreError> {
        let mut session = self.session()?;
        let id = {
            let tx = session.read()?;
            let keys = tx.open_table(RECORD_KEYS).map_err(MetaError::from)?;
            let v = keys.get(cache_key).map_err(MetaError::from)?;
            v.map(|v| v.value().to_string())
        };
        let found = match id {
            Some(id) => record_in(&mut session, &id)?,
            None => None,
        };
        if let Some(s) = found.as_ref().and_then(|r| r.snapshot.as_ref()) {
            self.lease()?
                .add(&Leased::Snapshot(s.as_str().to_string()))?;
        }
        Ok(found)
    }

    /// Marks a record used now (last used, usage count) and leases its
    /// snapshot to this process, so a prune running meanwhile keeps it.
    /// The use goes to the usage journal (`usage.rs`): statistics that a
    /// crash may lose, never a record, and no write of `meta.db`.
    pub fn use_record(&self, id: &str) -> Result<CacheRecord, StoreError> {
        let mut session = self.session()?;
        let mut record =
            record_in(&mut session, id)?.ok_or_else(|| StoreError::RecordNotFound(id.into()))?;
        if let Some(s) = &record.snapshot {
            self.lease()?
                .add(&Leased::Snapshot(s.as_str().to_string()))?;
        }
        let now = SystemTime::now();
        if usage::append(self.root(), [id], now)? >= usage::FOLD_AT {
            session.fold_usage()?;
        }
        record.last_used = record.last_used.max(now);
        record.usage_count = record.usage_count.saturating_add(1);
        Ok(record)
    }

    /// Every record (those that do not decode are skipped; `check` reports
    /// them).
    pub fn records(&self) -> Result<Vec<CacheRecord>, StoreError> {
        let mut session = self.session()?;
        all_records(&mut session)
    }

    /// The one record whose ID starts with `prefix`.
    pub fn find_record(&self, prefix: &str) -> Result<CacheRecord, StoreError> {
        if prefix.is_empty() || !id::is_valid_id(prefix) {
            return Err(StoreError::RecordNotFound(prefix.to_string()));
        }
        let mut session = self.session()?;
        let tx = session.read()?;
        let table = tx.open_table(RECORDS).map_err(MetaError::from)?;
        let mut found = None;
        for entry in table.range(prefix..).map_err(MetaError::from)? {
            let (k, v) = entry.map_err(MetaError::from)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            if found.is_some() {
                return Err(StoreError::AmbiguousRecord(prefix.to_string()));
            }
            found = Some(meta::decode::<CacheRecord>(
                "records",
                k.value(),
                v.value(),
            )?);
        }
        let mut found = found.ok_or_else(|| StoreError::RecordNotFound(prefix.to_string()))?;
        Pending::read(self.root())?.apply(&mut found);
        Ok(found)
    }
}

/// Builds a record, checking that what it points to exists.
pub(crate) fn new_record_in(
    session: &mut Session<'_>,
    new: NewRecord,
) -> Result<CacheRecord, StoreError> {
    let size = match &new.snapshot {
        Some(s) => {
            snapshot_in(session, s)?
                .ok_or_else(|| StoreError::MissingDependency {
                    what: "cache record".into(),
                    missing: format!("snapshot {s}"),
                })?
                .size
        }
        None => 0,
    };
    if let Some(parent) = &new.parent {
        if record_in(session, parent)?.is_none() {
            return Err(StoreError::MissingDependency {
                what: "cache record".into(),
                missing: format!("record {parent}"),
            });
        }
    }
    let now = SystemTime::now();
    Ok(CacheRecord {
        id: id::random_id(),
        cache_key: new.cache_key,
        parent: new.parent,
        snapshot: new.snapshot,
        ingredients: new.ingredients,
        description: new.description,
        created: now,
        last_used: now,
        usage_count: 0,
        size,
        kind: new.kind,
    })
}

pub(crate) fn put_record(
    tx: &redb::WriteTransaction,
    record: &CacheRecord,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(RECORDS).map_err(MetaError::from)?;
    table
        .insert(record.id.as_str(), meta::encode(record)?.as_slice())
        .map_err(MetaError::from)?;
    Ok(())
}

pub(crate) fn record_in(
    session: &mut Session<'_>,
    id: &str,
) -> Result<Option<CacheRecord>, StoreError> {
    let found: Option<CacheRecord> = {
        let tx = session.read()?;
        let table = tx.open_table(RECORDS).map_err(MetaError::from)?;
        meta::get_json(&table, "records", id)?
    };
    let Some(mut record) = found else {
        return Ok(None);
    };
    Pending::read(session.store.root())?.apply(&mut record);
    Ok(Some(record))
}

/// A record's ID and snapshot only: decoding skips the rest, which for a
/// COPY of a large context is megabytes of ingredients.
#[derive(Deserialize)]
struct SnapshotOwner {
    id: String,
    #[serde(default)]
    snapshot: Option<SnapshotId>,
}

/// Snapshot ID -> the ID of a record that holds it.
pub(crate) fn snapshot_owners(
    session: &mut Session<'_>,
) -> Result<BTreeMap<String, String>, StoreError> {
    let tx = session.read()?;
    let table = tx.open_table(RECORDS).map_err(MetaError::from)?;
    Ok(meta::all_json::<SnapshotOwner, _>(&table, "records")?
        .into_iter()
        .filter_map(|(_, r)| {
            let r = r.ok()?;
            Some((r.snapshot?.to_string(), r.id))
        })
        .collect())
}

/// Every record that decodes, with the uses the usage journal holds.
pub(crate) fn all_records(session: &mut Session<'_>) -> Result<Vec<CacheRecord>, StoreError> {
    let mut records: Vec<CacheRecord> = {
        let tx = session.read()?;
        let table = tx.open_table(RECORDS).map_err(MetaError::from)?;
        meta::all_json::<CacheRecord, _>(&table, "records")?
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .collect()
    };
    let pending = Pending::read(session.store.root())?;
    for r in &mut records {
        pending.apply(r);
    }
    Ok(records)
}
