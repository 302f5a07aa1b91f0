//! `meta.db`: kiln's metadata in redb, a pure-Rust ACID key-value store
//! (copy-on-write B-trees, a checksummed commit, no WAL to replay, no C
//! toolchain). Values are JSON so a record can grow fields without a
//! migration (new fields carry `#[serde(default)]`).
//!
//! redb lets one process open a database file at a time. kiln is daemonless
//! and several processes share a root, so the database is opened per
//! operation, under the store lock, and closed at once; transactions stay
//! short (reads of a few thousand entries, writes of a few).
//!
//! An operation that only reads opens the file read-only: a writable open
//! and close costs redb three fdatasyncs (its recovery flag is set, then
//! cleared with the allocator state), which every `kiln run IMAGE`,
//! `images` or `inspect` would pay. Files in redb 2's format (kiln before
//! redb 4) are upgraded in place on first open.

use std::path::Path;

use redb::{
    Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Repository name with tag or digest → manifest digest.
pub(crate) const REFS: TableDefinition<&str, &str> = TableDefinition::new("refs");
/// Manifest digest → [`crate::ImageRecord`].
pub(crate) const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
/// Snapshot ID → [`crate::SnapshotInfo`].
pub(crate) const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
/// Layer diff_id → snapshot ID: a layer is unpacked once.
pub(crate) const DIFF_IDS: TableDefinition<&str, &str> = TableDefinition::new("diff_ids");
/// `<diff_id> <compression>` → [`crate::BlobRef`] of that compressed layer.
pub(crate) const VARIANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("variants");
/// Record ID → [`crate::CacheRecord`].
pub(crate) const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// Cache key (blake3 hex) → record ID.
pub(crate) const RECORD_KEYS: TableDefinition<&str, &str> = TableDefinition::new("record_keys");
/// `schema` → version, for a future migration to recognise old files.
pub(crate) const INFO: TableDefinition<&str, &str> = TableDefinition::new("info");

const SCHEMA_VERSION: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata database: {0}")]
    Db(Box<redb::Error>),
    #[error("corrupt metadata entry {table}/{key}: {source}")]
    Corrupt {
        table: String,
        key: String,
        source: serde_json::Error,
    },
    #[error("encoding metadata: {0}")]
    Encode(serde_json::Error),
    #[error("upgrading the metadata database to redb's v3 format: {0}")]
    Upgrade(String),
    #[error("creating the metadata database {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for MetaError {
            fn from(e: $t) -> Self {
                MetaError::Db(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// A small cache: each process opens the file for milliseconds.
const CACHE_SIZE: usize = 16 << 20;

/// Opens (creating if needed) the database for writing. The caller holds
/// the store lock.
pub(crate) fn open(path: &Path) -> Result<Database, MetaError> {
    if !path.exists() {
        create(path)?;
    }
    let builder = || Database::builder().set_cache_size(CACHE_SIZE).create(path);
    match builder() {
        Err(DatabaseError::UpgradeRequired(_)) => {
            upgrade(path)?;
            Ok(builder()?)
        }
        opened => Ok(opened?),
    }
}

/// Opens the database without writing to it, or `None` when only a
/// writable open will do: no file yet, a file to repair after a crash, or
/// one in an older format. The caller holds the store lock.
pub(crate) fn open_read_only(path: &Path) -> Result<Option<ReadOnlyDatabase>, MetaError> {
    let opened = Database::builder()
        .set_cache_size(CACHE_SIZE)
        .open_read_only(path);
    match opened {
        Ok(db) if initialised(&db)? => Ok(Some(db)),
        Ok(_) => Ok(None),
        Err(DatabaseError::Storage(redb::StorageError::Io(e)))
            if e.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(DatabaseError::RepairAborted | DatabaseError::UpgradeRequired(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Rewrites a redb 2 format file in redb 3's format, in place, with the
/// redb 2.6 release that knows both (redb 3 and later read only the new
/// one). Images, tags and cache records stay.
fn upgrade(path: &Path) -> Result<(), MetaError> {
    let mut old = redb2::Database::builder()
        .create(path)
        .map_err(|e| MetaError::Upgrade(e.to_string()))?;
    old.upgrade()
        .map_err(|e| MetaError::Upgrade(e.to_string()))?;
    Ok(())
}

/// Makes a new database under another name, with its tables, and renames
/// it into place: a process killed while redb writes a fresh file's header
/// would leave a file no later open accepts ("invalid data"), and the store
/// with it. Leftovers of such a kill are replaced.
fn create(path: &Path) -> Result<(), MetaError> {
    let fresh = path.with_extension("db.creating");
    let io = |source| MetaError::Create {
        path: path.display().to_string(),
        source,
    };
    match std::fs::remove_file(&fresh) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        _ => {}
    }
    init(&Database::builder().create(&fresh)?)?;
    // Only root reads the metadata (the store's root guards it too).
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(&fresh, private).map_err(io)?;
    crate::crashpoint::crash_point("meta-before-rename");
    std::fs::rename(&fresh, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

/// Creates every table so read transactions never meet a missing one.
/// An initialised database is only read: a commit costs an fsync, and
/// every kiln command opens the store.
pub(crate) fn init(db: &Database) -> Result<(), MetaError> {
    if initialised(db)? {
        return Ok(());
    }
    let tx = db.begin_write()?;
    {
        tx.open_table(REFS)?;
        tx.open_table(IMAGES)?;
        tx.open_table(SNAPSHOTS)?;
        tx.open_table(DIFF_IDS)?;
        tx.open_table(VARIANTS)?;
        tx.open_table(RECORDS)?;
        tx.open_table(RECORD_KEYS)?;
        let mut info = tx.open_table(INFO)?;
        if info.get("schema")?.is_none() {
            info.insert("schema", SCHEMA_VERSION)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Whether every table exists and the schema is recorded.
fn initialised(db: &impl ReadableDatabase) -> Result<bool, MetaError> {
    let tx = db.begin_read()?;
    let strs = [REFS, DIFF_IDS, RECORD_KEYS];
    let jsons = [IMAGES, SNAPSHOTS, VARIANTS, RECORDS];
    for t in strs {
        if !exists(tx.open_table(t))? {
            return Ok(false);
        }
    }
    for t in jsons {
        if !exists(tx.open_table(t))? {
            return Ok(false);
        }
    }
    match tx.open_table(INFO) {
        Ok(info) => Ok(info.get("schema")?.is_some()),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn exists<T>(opened: Result<T, redb::TableError>) -> Result<bool, MetaError> {
    match opened {
        Ok(_) => Ok(true),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, MetaError> {
    serde_json::to_vec(value).map_err(MetaError::Encode)
}

pub(crate) fn decode<T: DeserializeOwned>(
    table: &str,
    key: &str,
    bytes: &[u8],
) -> Result<T, MetaError> {
    serde_json::from_slice(bytes).map_err(|source| MetaError::Corrupt {
        table: table.to_string(),
        key: key.to_string(),
        source,
    })
}

/// A table entry: its key and its value, decoded or not.
pub(crate) type Row<T> = (String, Result<T, MetaError>);

/// One JSON value by key.
pub(crate) fn get_json<T, R>(table: &R, name: &str, key: &str) -> Result<Option<T>, MetaError>
where
    T: DeserializeOwned,
    R: ReadableTable<&'static str, &'static [u8]>,
{
    match table.get(key)? {
        Some(v) => Ok(Some(decode(name, key, v.value())?)),
        None => Ok(None),
    }
}

/// Every JSON value of a table, keyed. Entries that do not decode are
/// returned as errors by the caller's choice: `check` wants to see them,
/// listings want to skip them.
pub(crate) fn all_json<T, R>(table: &R, name: &str) -> Result<Vec<Row<T>>, MetaError>
where
    T: DeserializeOwned,
    R: ReadableTable<&'static str, &'static [u8]> + ReadableTableMetadata,
{
    let mut out = Vec::with_capacity(table.len()? as usize);
    for entry in table.iter()? {
        let (k, v) = entry?;
        let key = k.value().to_string();
        let value = decode(name, &key, v.value());
        out.push((key, value));
    }
    Ok(out)
}

/// Every string pair of a table.
pub(crate) fn all_str<R>(table: &R) -> Result<Vec<(String, String)>, MetaError>
where
    R: ReadableTable<&'static str, &'static str>,
{
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        out.push((k.value().to_string(), v.value().to_string()));
    }
    Ok(out)
}
