//! `usage.log`: cache hits not yet written into `meta.db`. A fully cached
//! build must write nothing durable, yet prune orders records by their last
//! use. Opening `meta.db` for writing costs redb four fdatasyncs even when
//! its commit is not durable, so a hit appends one line here instead (one
//! `O_APPEND` write, never flushed), and the next session that opens
//! `meta.db` for writing anyway folds the lines into the records and
//! empties the file. Readers of records see the lines too.
//!
//! What a power cut can do: lose lines not yet on disk (a record then looks
//! used a little less recently than it was, so prune ordering is slightly
//! stale), or keep lines whose fold was already committed (a usage count a
//! little high). It never loses or damages a record, and nothing else in
//! the store depends on these times.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use redb::{Database, ReadableTable};

use crate::meta::{self, MetaError, RECORDS};
use crate::meta_touch::touched;
use crate::record::CacheRecord;
use crate::store::{io_context, StoreError};

pub(crate) const USAGE_LOG: &str = "usage.log";

/// A journal this long is folded by the hit that makes it so, whether or
/// not anything else writes: a machine that only ever rebuilds from cache
/// must not grow it without end (a line is ~50 bytes).
pub(crate) const FOLD_AT: u64 = 256 << 10;

/// The uses of one record that the journal holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uses {
    pub last: SystemTime,
    pub count: u64,
}

/// Every use in the journal, by record ID.
#[derive(Debug, Default)]
pub(crate) struct Pending(HashMap<String, Uses>);

impl Pending {
    /// Reads the journal under `root`; a missing file is an empty one.
    pub(crate) fn read(root: &Path) -> Result<Pending, StoreError> {
        let text = match fs::read(path(root)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Pending::default()),
            Err(e) => return Err(io_context(format!("reading {USAGE_LOG}"))(e)),
        };
        Ok(Pending::parse(&text))
    }

    /// Lines that do not parse (a line torn by a crash) are skipped.
    fn parse(text: &[u8]) -> Pending {
        let mut uses: HashMap<String, Uses> = HashMap::new();
        for line in text.split(|b| *b == b'\n') {
            let Some((id, at)) = parse_line(line) else {
                continue;
            };
            let entry = uses.entry(id).or_insert(Uses { last: at, count: 0 });
            entry.last = entry.last.max(at);
            entry.count += 1;
        }
        Pending(uses)
    }

    /// `record` as it is with the journal's uses of it counted.
    pub(crate) fn apply(&self, record: &mut CacheRecord) {
        if let Some(uses) = self.0.get(&record.id) {
            record.last_used = record.last_used.max(uses.last);
            record.usage_count = record.usage_count.saturating_add(uses.count);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn path(root: &Path) -> PathBuf {
    root.join(USAGE_LOG)
}

fn parse_line(line: &[u8]) -> Option<(String, SystemTime)> {
    let line = std::str::from_utf8(line).ok()?;
    let (id, at) = line.split_once(' ')?;
    let (secs, nanos) = at.split_once('.')?;
    // Checked: a line is any bytes the file holds, and `Duration::new` and
    // `SystemTime + Duration` panic on overflow.
    let at = Duration::from_secs(secs.parse().ok()?)
        .checked_add(Duration::from_nanos(nanos.parse::<u32>().ok()?.into()))?;
    let at = SystemTime::UNIX_EPOCH.checked_add(at)?;
    let valid = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| (id.to_string(), at))
}

/// Appends one use of each record at `now`, in one write; returns the
/// journal's length after it. The caller holds the store lock.
pub(crate) fn append<'a>(
    root: &Path,
    ids: impl IntoIterator<Item = &'a str>,
    now: SystemTime,
) -> Result<u64, StoreError> {
    let at = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut lines = String::new();
    for id in ids {
        lines.push_str(&format!("{id} {}.{:09}\n", at.as_secs(), at.subsec_nanos()));
    }
    let io = io_context(format!("appending to {USAGE_LOG}"));
    let mut file = match OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path(root))
    {
        Ok(f) => f,
        Err(e) => return Err(io(e)),
    };
    // One write: a crash leaves whole lines and at most one torn last line.
    if let Err(e) = file.write_all(lines.as_bytes()) {
        return Err(io(e));
    }
    Ok(file
        .metadata()
        .map_err(io_context(format!("reading {USAGE_LOG}")))?
        .len())
}

/// Writes the journal's uses into the records of `db` (just opened for
/// writing, under the store lock) and empties the journal. The commit is
/// not durable: the write the session was opened for makes it so.
pub(crate) fn fold(db: &Database, root: &Path) -> Result<(), StoreError> {
    let pending = Pending::read(root)?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().map_err(MetaError::from)?;
    tx.set_durability(redb::Durability::None)
        .map_err(MetaError::from)?;
    {
        let mut records = tx.open_table(RECORDS).map_err(MetaError::from)?;
        for (id, uses) in &pending.0 {
            let Some(raw) = records
                .get(id.as_str())
                .map_err(MetaError::from)?
                .map(|v| v.value().to_vec())
            else {
                // Pruned since it was used.
                continue;
            };
            let bytes = match touched(&raw, uses.last, uses.count) {
                Some(b) => b,
                None => match meta::decode::<CacheRecord>("records", id, &raw) {
                    Ok(mut r) => {
                        pending.apply(&mut r);
                        meta::encode(&r)?
                    }
                    // `cache check` reports it; its uses must not keep
                    // every later write from opening the database.
                    Err(_) => continue,
                },
            };
            records
                .insert(id.as_str(), bytes.as_slice())
                .map_err(MetaError::from)?;
        }
    }
    tx.commit().map_err(MetaError::from)?;
    match fs::remove_file(path(root)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io_context(format!("removing {USAGE_LOG}"))(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(secs, 5)
    }

    #[test]
    fn appended_uses_are_counted_and_the_newest_time_wins() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), ["aa", "bb"], at(20)).unwrap();
        let len = append(dir.path(), ["aa"], at(10)).unwrap();
        assert_eq!(len, fs::metadata(path(dir.path())).unwrap().len());
        let pending = Pending::read(dir.path()).unwrap();
        assert_eq!(
            pending.0["aa"],
            Uses {
                last: at(20),
                count: 2
            }
        );
        assert_eq!(
            pending.0["bb"],
            Uses {
                last: at(20),
                count: 1
            }
        );
    }

    #[test]
    fn a_time_out_of_range_is_skipped() {
        let pending =
            Pending::parse(b"aa 18446744073709551615.4294967295\nbb 9223372036854775808.0\n");
        assert!(pending.is_empty(), "{pending:?}");
        let mut r = CacheRecord {
            id: "cc".into(),
            cache_key: None,
            parent: None,
            snapshot: None,
            ingredients: Vec::new(),
            description: String::new(),
            created: at(1),
            last_used: at(1),
            usage_count: u64::MAX,
            size: 0,
            kind: crate::record::RecordKind::Regular,
        };
        Pending::parse(b"cc 1.0\n").apply(&mut r);
        assert_eq!(r.usage_count, u64::MAX);
    }

    #[test]
    fn a_torn_or_foreign_line_is_skipped() {
        let pending = Pending::parse(b"aa 1.000000002\nbb 3.00\ncc 4\n../x 5.0\ndd 7.0000");
        assert_eq!(pending.0.len(), 3, "{pending:?}");
        assert_eq!(
            pending.0["aa"].last,
            SystemTime::UNIX_EPOCH + Duration::new(1, 2)
        );
        assert!(!pending.0.contains_key("cc"));
        assert!(!pending.0.contains_key("../x"));
    }

    #[test]
    fn fold_writes_the_uses_skips_what_does_not_decode_and_empties_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let db = meta::open(&dir.path().join("meta.db")).unwrap();
        meta::init(&db).unwrap();
        let good = CacheRecord {
            id: "good".into(),
            cache_key: None,
            parent: None,
            snapshot: None,
            ingredients: Vec::new(),
            description: String::new(),
            created: at(1),
            last_used: at(1),
            usage_count: 1,
            size: 0,
            kind: crate::record::RecordKind::Regular,
        };
        let tx = db.begin_write().unwrap();
        {
            let mut records = tx.open_table(RECORDS).unwrap();
            let bytes = meta::encode(&good).unwrap();
            records.insert("good", bytes.as_slice()).unwrap();
            records.insert("bad", b"not json".as_slice()).unwrap();
        }
        tx.commit().unwrap();
        append(dir.path(), ["good", "bad", "gone", "good"], at(30)).unwrap();
        fold(&db, dir.path()).unwrap();
        assert!(!path(dir.path()).exists());
        let tx = db.begin_read().unwrap();
        let records = tx.open_table(RECORDS).unwrap();
        let back: CacheRecord = meta::get_json(&records, "records", "good")
            .unwrap()
            .unwrap();
        assert_eq!((back.last_used, back.usage_count), (at(30), 3));
        assert_eq!(records.get("bad").unwrap().unwrap().value(), b"not json");
    }

    #[test]
    fn no_journal_is_no_use() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Pending::read(dir.path()).unwrap().is_empty());
    }
}
