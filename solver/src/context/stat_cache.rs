//! The stat cache: file digests remembered per (path, inode, size, mtime,
//! ctime), like git's index, so an unchanged context is stat-ed, not read.
//!
//! Racy entries are guarded as git guards them: a digest recorded less than
//! [`RACY_MARGIN_NS`] after the file's last mtime/ctime may describe an
//! earlier version written within the same timestamp tick, so it is not
//! trusted and the file is read again (BuildKit shipped stale COPY contents
//! from a stat-only shortcut, moby/buildkit#4950).

use std::collections::HashMap;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Stat;

/// Coarse-timestamp filesystems round to a second (or two, on FAT); a
/// digest taken within this long of a change is re-checked next time.
pub const RACY_MARGIN_NS: i128 = 2_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cached {
    pub ino: u64,
    pub size: u64,
    pub mtime: i128,
    pub ctime: i128,
    pub digest: String,
    /// When the digest was taken (ns since the epoch).
    pub hashed_at: i128,
}

fn ns(sec: i64, nsec: i64) -> i128 {
    sec as i128 * 1_000_000_000 + nsec as i128
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

impl Cached {
    pub fn new(stat: &Stat, digest: String, hashed_at: i128) -> Cached {
        Cached {
            ino: stat.ino,
            size: stat.size,
            mtime: ns(stat.mtime_sec, stat.mtime_nsec),
            ctime: ns(stat.ctime_sec, stat.ctime_nsec),
            digest,
            hashed_at,
        }
    }

    /// The digest, when `stat` is the file it was taken of and the entry is
    /// not racy.
    fn valid_for(&self, stat: &Stat) -> Option<&str> {
        let same = self.ino == stat.ino
            && self.size == stat.size
            && self.mtime == ns(stat.mtime_sec, stat.mtime_nsec)
            && self.ctime == ns(stat.ctime_sec, stat.ctime_nsec);
        let racy = self.mtime.max(self.ctime) + RACY_MARGIN_NS > self.hashed_at;
        (same && !racy).then_some(self.digest.as_str())
    }
}

/// The cache of one build context, loaded from and saved to one file.
#[derive(Debug, Default)]
pub struct StatCache {
    file: Option<PathBuf>,
    /// Keyed by the path's bytes: hashing a `PathBuf` walks its components.
    entries: HashMap<Vec<u8>, Cached>,
    /// Something was added since the load: only then is the file rewritten.
    dirty: bool,
}

/// The file's first bytes: a name and a format version.
const MAGIC: &[u8; 16] = b"kiln-statcache2\n";

impl StatCache {
    /// Loads the cache kept in `dir` for the context at `context`; a
    /// missing, unreadable or truncated file is an empty cache (it only
    /// saves work). One read and one pass over a flat binary file: a
    /// 20,000-file context must not spend its cached rebuild decoding JSON.
    pub fn load(dir: &Path, context: &Path) -> StatCache {
        let canonical = context
            .canonicalize()
            .unwrap_or_else(|_| context.to_path_buf());
        let name = blake3::hash(canonical.as_os_str().as_encoded_bytes()).to_hex();
        let file = dir.join(format!("{}.bin", &name[..32]));
        let entries = std::fs::read(&file)
            .ok()
            .and_then(|b| decode(&b))
            .unwrap_or_default();
        StatCache {
            file: Some(file),
            entries,
            dirty: false,
        }
    }

    /// An empty cache that is never saved (tests, `--no-cache`).
    pub fn in_memory() -> StatCache {
        StatCache::default()
    }

    pub fn lookup(&self, path: &Path, stat: &Stat) -> Option<&str> {
        self.entries
            .get(path.as_os_str().as_bytes())?
            .valid_for(stat)
    }

    pub fn insert(&mut self, path: PathBuf, cached: Cached) {
        self.entries
            .insert(path.into_os_string().into_vec(), cached);
        self.dirty = true;
    }

    /// Writes the cache (temp file + rename: concurrent builds of one
    /// context each leave a whole file; the last one wins).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(file) = self.file.as_ref().filter(|_| self.dirty) else {
            return Ok(());
        };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, encode(&self.entries))?;
        std::fs::rename(&tmp, file)?;
        // The JSON file of kiln versions before this format, if any.
        let _ = std::fs::remove_file(file.with_extension("json"));
        Ok(())
    }
}

fn encode(entries: &HashMap<Vec<u8>, Cached>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + entries.len() * 160);
    out.extend_from_slice(MAGIC);
    for (path, c) in entries {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path);
        out.extend_from_slice(&c.ino.to_le_bytes());
        out.extend_from_slice(&c.size.to_le_bytes());
        for t in [c.mtime, c.ctime, c.hashed_at] {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend_from_slice(&(c.digest.len() as u32).to_le_bytes());
        out.extend_from_slice(c.digest.as_bytes());
    }
    out
}

/// The entries of a saved cache, or `None` when the file is not one.
fn decode(bytes: &[u8]) -> Option<HashMap<Vec<u8>, Cached>> {
    let mut r = Reader(bytes.strip_prefix(MAGIC.as_slice())?);
    let mut entries = HashMap::new();
    while !r.0.is_empty() {
        let len = r.u32()? as usize;
        let path = r.take(len)?.to_vec();
        let (ino, size) = (r.u64()?, r.u64()?);
        let (mtime, ctime, hashed_at) = (r.i128()?, r.i128()?, r.i128()?);
        let len = r.u32()? as usize;
        let digest = std::str::from_utf8(r.take(len)?).ok()?.to_string();
        let cached = Cached {
            ino,
            size,
            mtime,
            ctime,
            digest,
            hashed_at,
        };
        entries.insert(path, cached);
    }
    Some(entries)
}

/// Little-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i128(&mut self) -> Option<i128> {
        Some(i128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mtime: i64) -> Stat {
        Stat {
            mode: 0o100644,
            size: 3,
            uid: 0,
            gid: 0,
            dev: 1,
            ino: 7,
            nlink: 1,
            mtime_sec: mtime,
            mtime_nsec: 0,
            ctime_sec: mtime,
            ctime_nsec: 0,
        }
    }

    #[test]
    fn same_stat_hits_and_any_change_misses() {
        let mut c = StatCache::in_memory();
        let s = stat(100);
        c.insert("a".into(), Cached::new(&s, "d".into(), ns(200, 0)));
        assert_eq!(c.lookup(Path::new("a"), &s), Some("d"));
        let mut bigger = s;
        bigger.size = 4;
        assert_eq!(c.lookup(Path::new("a"), &bigger), None);
        assert_eq!(c.lookup(Path::new("a"), &stat(101)), None);
        let mut moved = s;
        moved.ino = 8;
        assert_eq!(c.lookup(Path::new("a"), &moved), None);
    }

    #[test]
    fn racy_entry_is_not_trusted() {
        // Hashed in the same second the file was last written: a write later
        // in that second would leave the same stat, so the digest is unsafe.
        let mut c = StatCache::in_memory();
        let s = stat(100);
        c.insert(
            "a".into(),
            Cached::new(&s, "d".into(), ns(100, 500_000_000)),
        );
        assert_eq!(c.lookup(Path::new("a"), &s), None);
    }

    #[test]
    fn saved_cache_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = tempfile::tempdir().unwrap();
        let mut c = StatCache::load(dir.path(), ctx.path());
        let s = stat(100);
        c.insert("a".into(), Cached::new(&s, "d".into(), ns(300, 0)));
        c.save().unwrap();
        let again = StatCache::load(dir.path(), ctx.path());
        assert_eq!(again.lookup(Path::new("a"), &s), Some("d"));
    }

    #[test]
    fn truncated_file_is_an_empty_cache() {
        let mut c = StatCache::in_memory();
        c.insert("dir/a".into(), Cached::new(&stat(100), "file:x".into(), 9));
        let bytes = encode(&c.entries);
        assert_eq!(decode(&bytes).unwrap().len(), 1);
        assert!(decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(decode(b"{\"version\":1}").is_none());
    }
}
