//! The stat cache: file digests remembered per (path, inode, size, mtime,
//! ctime), like git's index, so an unchanged context is stat-ed, not read.
//!
//! Racy entries are guarded as git guards them: a digest recorded less than
//! [`RACY_MARGIN_NS`] after the file's last mtime/ctime may describe an
//! earlier version written within the same timestamp tick, so it is not
//! trusted and the file is read again (BuildKit shipped stale COPY contents
//! from a stat-only shortcut, moby/buildkit#4950).
//!
//! A loaded cache stays the file's bytes, with one offset per record: its
//! records are sorted by path, so a lookup is a binary search and a
//! 200,000-file context costs its file size (~100 bytes a file), not a map
//! of owned paths and digest strings.

use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Stat;

/// Coarse-timestamp filesystems round to a second (or two, on FAT); a
/// digest taken within this long of a change is re-checked next time.
pub const RACY_MARGIN_NS: i128 = 2_000_000_000;

/// What the cache knows of one file: its stat when it was hashed and the
/// blake3 digest of its bytes. Times are ns since the epoch, clamped to
/// i64 (years 1678-2262): a clamped mtime or ctime is far above any
/// `hashed_at`, so it only ever makes the entry racy, never trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cached {
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub ctime: i64,
    /// When the digest was taken.
    pub hashed_at: i64,
    pub digest: [u8; 32],
}

fn ns(sec: i64, nsec: i64) -> i64 {
    clamp(sec as i128 * 1_000_000_000 + nsec as i128)
}

fn clamp(t: i128) -> i64 {
    t.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

impl Cached {
    pub fn new(stat: &Stat, digest: [u8; 32], hashed_at: i128) -> Cached {
        Cached {
            ino: stat.ino,
            size: stat.size,
            mtime: ns(stat.mtime_sec, stat.mtime_nsec),
            ctime: ns(stat.ctime_sec, stat.ctime_nsec),
            hashed_at: clamp(hashed_at),
            digest,
        }
    }

    /// The digest, when `stat` is the file it was taken of and the entry is
    /// not racy.
    fn valid_for(&self, stat: &Stat) -> Option<[u8; 32]> {
        let same = self.ino == stat.ino
            && self.size == stat.size
            && self.mtime == ns(stat.mtime_sec, stat.mtime_nsec)
            && self.ctime == ns(stat.ctime_sec, stat.ctime_nsec);
        (same && !self.racy()).then_some(self.digest)
    }

    /// Taken too soon after the file changed to be trusted, ever: all three
    /// times are fixed when the digest is taken.
    fn racy(&self) -> bool {
        let changed = self.mtime.max(self.ctime) as i128;
        changed + RACY_MARGIN_NS > self.hashed_at as i128
    }

    fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.ino.to_le_bytes())?;
        out.write_all(&self.size.to_le_bytes())?;
        for t in [self.mtime, self.ctime, self.hashed_at] {
            out.write_all(&t.to_le_bytes())?;
        }
        out.write_all(&self.digest)
    }

    /// The fixed part of a record, after its path.
    fn read(r: &mut Reader<'_>) -> Option<Cached> {
        Some(Cached {
            ino: r.u64()?,
            size: r.u64()?,
            mtime: r.u64()? as i64,
            ctime: r.u64()? as i64,
            hashed_at: r.u64()? as i64,
            digest: r.take(32)?.try_into().ok()?,
        })
    }
}

/// The cache of one build context, loaded from and saved to one file.
#[derive(Debug, Default)]
pub struct StatCache {
    file: Option<PathBuf>,
    loaded: Records,
    /// Digests taken since the load, by path bytes; the first `settled`
    /// are in path order, one per path (saving is a merge with the loaded
    /// records). Only when there are any is the file rewritten.
    fresh: Vec<(Box<[u8]>, Cached)>,
    settled: usize,
}

/// A saved cache as read: its bytes and where each record starts, in path
/// order.
#[derive(Debug, Default)]
struct Records {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

/// The file's first bytes: a name and a format version.
const MAGIC: &[u8; 16] = b"kiln-statcache3\n";

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
        let loaded = std::fs::read(&file)
            .ok()
            .and_then(Records::decode)
            .unwrap_or_default();
        StatCache {
            file: Some(file),
            loaded,
            fresh: Vec::new(),
            settled: 0,
        }
    }

    /// An empty cache that is never saved (tests, `--no-cache`).
    pub fn in_memory() -> StatCache {
        StatCache::default()
    }

    /// The blake3 digest of the file at `path`, when `stat` says it is
    /// unchanged since it was taken.
    pub fn lookup(&self, path: &Path, stat: &Stat) -> Option<[u8; 32]> {
        self.cursor().lookup(path, stat)
    }

    /// Lookups for paths that mostly come in path order.
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            cache: self,
            next: 0,
        }
    }

    /// Remembers a digest; [`StatCache::settle`] after a batch of them. A
    /// racy one is dropped: it could never be trusted (a build right after
    /// a checkout would otherwise keep a record of every file for nothing).
    pub fn insert(&mut self, path: PathBuf, cached: Cached) {
        if !cached.racy() {
            let path = path.into_os_string().into_vec().into_boxed_slice();
            self.fresh.push((path, cached));
        }
    }

    /// Puts the digests inserted since the last call in path order, the
    /// newest of a path kept.
    pub fn settle(&mut self) {
        if self.settled == self.fresh.len() {
            return;
        }
        // Stable: of equal paths, the later insert stays later.
        self.fresh.sort_by(|a, b| a.0.cmp(&b.0));
        self.fresh.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        self.settled = self.fresh.len();
    }

    fn fresh_get(&self, key: &[u8]) -> Option<&Cached> {
        let (settled, since) = self.fresh.split_at(self.settled);
        let newest = since.iter().rev().find(|(p, _)| &**p == key);
        let found = newest.or_else(|| {
            let i = settled.binary_search_by(|(p, _)| (**p).cmp(key)).ok()?;
            settled.get(i)
        });
        found.map(|(_, c)| c)
    }

    /// Writes the cache (temp file + rename: concurrent builds of one
    /// context each leave a whole file; the last one wins).
    pub fn save(&mut self) -> std::io::Result<()> {
        self.settle();
        let Some(file) = self.file.as_ref().filter(|_| !self.fresh.is_empty()) else {
            return Ok(());
        };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        self.encode(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?;
        std::fs::rename(&tmp, file)?;
        // The files of kiln versions before this format, if any.
        let _ = std::fs::remove_file(file.with_extension("json"));
        Ok(())
    }

    /// The loaded records merged with the fresh ones (a fresh record
    /// replaces a loaded one of the same path), in path order; fresh ones
    /// must be settled.
    fn encode(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(MAGIC)?;
        let mut fresh = self.fresh.iter().peekable();
        for i in 0..self.loaded.starts.len() {
            let Some((path, cached)) = self.loaded.record(i) else {
                continue;
            };
            let mut replaced = false;
            while let Some((p, c)) = fresh.next_if(|(p, _)| **p <= *path) {
                replaced = **p == *path;
                write_record(out, p, c)?;
            }
            if replaced {
                continue;
            }
            write_record(out, path, &cached)?;
        }
        for (p, c) in fresh {
            write_record(out, p, c)?;
        }
        Ok(())
    }
}

/// Lookups that start where the last one ended: the paths a COPY selects
/// come in the cache's order, so the next record is nearly always the one
/// after the last, found with a compare or two instead of a binary search
/// over 200,000 paths.
pub struct Cursor<'a> {
    cache: &'a StatCache,
    next: usize,
}

impl Cursor<'_> {
    /// What [`StatCache::lookup`] answers.
    pub fn lookup(&mut self, path: &Path, stat: &Stat) -> Option<[u8; 32]> {
        let key = path.as_os_str().as_bytes();
        if let Some(c) = self.cache.fresh_get(key) {
            return c.valid_for(stat);
        }
        let found = self.cache.loaded.seek(self.next, key);
        let i = found.unwrap_or_else(|at| at);
        self.next = i + found.is_ok() as usize;
        self.cache.loaded.record(found.ok()?)?.1.valid_for(stat)
    }
}

fn write_record(out: &mut impl Write, path: &[u8], c: &Cached) -> std::io::Result<()> {
    out.write_all(&(path.len() as u32).to_le_bytes())?;
    out.write_all(path)?;
    c.write_to(out)
}

impl Records {
    /// The records of a saved cache, or `None` when `bytes` is not one (a
    /// truncated file, another format).
    fn decode(bytes: Vec<u8>) -> Option<Records> {
        // Offsets are u32: a cache above 4 GiB is not one kiln wrote.
        u32::try_from(bytes.len()).ok()?;
        let mut starts = Vec::new();
        let mut r = Reader(bytes.strip_prefix(MAGIC.as_slice())?);
        while !r.0.is_empty() {
            starts.push((bytes.len() - r.0.len()) as u32);
            let len = r.u32()? as usize;
            r.take(len)?;
            Cached::read(&mut r)?;
        }
        let mut records = Records { bytes, starts };
        records.sort();
        Some(records)
    }

    /// Kiln writes records in path order; a file that is not is sorted
    /// here rather than refused.
    fn sort(&mut self) {
        let sorted = (1..self.starts.len()).all(|i| self.path(i - 1) < self.path(i));
        if !sorted {
            let mut starts = std::mem::take(&mut self.starts);
            starts.sort_by(|&a, &b| self.path_at(a).cmp(self.path_at(b)));
            self.starts = starts;
        }
    }

    fn path_at(&self, start: u32) -> &[u8] {
        let mut r = Reader(self.bytes.get(start as usize..).unwrap_or_default());
        r.u32()
            .and_then(|len| r.take(len as usize))
            .unwrap_or_default()
    }

    fn path(&self, i: usize) -> &[u8] {
        self.path_at(self.starts[i])
    }

    fn record(&self, i: usize) -> Option<(&[u8], Cached)> {
        let mut r = Reader(self.bytes.get(*self.starts.get(i)? as usize..)?);
        let len = r.u32()? as usize;
        let path = r.take(len)?;
        Some((path, Cached::read(&mut r)?))
    }

    #[cfg(test)]
    fn get(&self, path: &[u8]) -> Option<Cached> {
        let i = self.search(0, self.starts.len(), path).ok()?;
        self.record(i).map(|(_, c)| c)
    }

    /// Where `key` is (or would go), searched for from record `from` on
    /// when every path before it sorts first (galloping: 1, 2, 4… ahead),
    /// over all records otherwise.
    fn seek(&self, from: usize, key: &[u8]) -> Result<usize, usize> {
        let n = self.starts.len();
        if from > n || (from > 0 && self.path(from - 1) >= key) {
            return self.search(0, n, key);
        }
        // Every record before `lo` sorts before `key`; `hi` does not, or is n.
        let (mut lo, mut hi, mut step) = (from, from, 1);
        while hi < n && self.path(hi) < key {
            lo = hi + 1;
            hi = from + step;
            step *= 2;
        }
        self.search(lo, (hi + 1).min(n), key)
    }

    /// Binary search of records `lo..end`.
    fn search(&self, lo: usize, end: usize, key: &[u8]) -> Result<usize, usize> {
        let Some(range) = self.starts.get(lo..end) else {
            return Err(lo);
        };
        range
            .binary_search_by(|&s| self.path_at(s).cmp(key))
            .map(|i| i + lo)
            .map_err(|i| i + lo)
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mtime: i64) -> Stat {
        Stat {
            mode: 0o100644,
            size: 3,
            ino: 7,
            mtime_sec: mtime,
            mtime_nsec: 0,
            ctime_sec: mtime,
            ctime_nsec: 0,
        }
    }

    const D: [u8; 32] = [0xd; 32];
    const E: [u8; 32] = [0xe; 32];

    fn at(sec: i64) -> i128 {
        sec as i128 * 1_000_000_000
    }

    #[test]
    fn same_stat_hits_and_any_change_misses() {
        let mut c = StatCache::in_memory();
        let s = stat(100);
        c.insert("a".into(), Cached::new(&s, D, at(200)));
        assert_eq!(c.lookup(Path::new("a"), &s), Some(D));
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
        c.insert("a".into(), Cached::new(&s, D, at(100) + 500_000_000));
        assert_eq!(c.lookup(Path::new("a"), &s), None);
    }

    #[test]
    fn far_future_mtime_is_never_trusted() {
        let mut c = StatCache::in_memory();
        let s = stat(i64::MAX / 2);
        c.insert("a".into(), Cached::new(&s, D, at(300)));
        assert_eq!(c.lookup(Path::new("a"), &s), None);
    }

    #[test]
    fn saved_cache_loads_back_and_merges() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = tempfile::tempdir().unwrap();
        let mut c = StatCache::load(dir.path(), ctx.path());
        for p in ["b", "d/x", "a", "d"] {
            c.insert(p.into(), Cached::new(&stat(100), D, at(300)));
        }
        c.save().unwrap();
        let mut again = StatCache::load(dir.path(), ctx.path());
        for p in ["a", "b", "d", "d/x"] {
            assert_eq!(again.lookup(Path::new(p), &stat(100)), Some(D), "{p}");
        }
        assert_eq!(again.lookup(Path::new("c"), &stat(100)), None);
        // A newer digest of one path replaces the saved one; others stay.
        again.insert("b".into(), Cached::new(&stat(200), E, at(300)));
        again.insert("c".into(), Cached::new(&stat(100), E, at(300)));
        again.save().unwrap();
        let third = StatCache::load(dir.path(), ctx.path());
        assert_eq!(third.loaded.starts.len(), 5);
        assert_eq!(third.lookup(Path::new("b"), &stat(200)), Some(E));
        assert_eq!(third.lookup(Path::new("b"), &stat(100)), None);
        assert_eq!(third.lookup(Path::new("c"), &stat(100)), Some(E));
        assert_eq!(third.lookup(Path::new("d/x"), &stat(100)), Some(D));
    }

    #[test]
    fn racy_digests_are_not_kept_and_the_newest_of_a_path_wins() {
        let mut c = StatCache::in_memory();
        c.insert("racy".into(), Cached::new(&stat(100), D, at(101)));
        c.insert("a".into(), Cached::new(&stat(100), D, at(300)));
        c.insert("a".into(), Cached::new(&stat(100), E, at(300)));
        assert_eq!(c.lookup(Path::new("a"), &stat(100)), Some(E));
        c.settle();
        assert_eq!(c.fresh.len(), 1);
        assert_eq!(c.lookup(Path::new("a"), &stat(100)), Some(E));
    }

    #[test]
    fn unchanged_cache_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = tempfile::tempdir().unwrap();
        StatCache::load(dir.path(), ctx.path()).save().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    fn encoded(paths: &[&str]) -> Vec<u8> {
        let mut c = StatCache::in_memory();
        for p in paths {
            c.insert(p.into(), Cached::new(&stat(100), D, at(300)));
        }
        let mut bytes = Vec::new();
        c.encode(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn truncated_file_is_an_empty_cache() {
        let bytes = encoded(&["dir/a"]);
        assert_eq!(Records::decode(bytes.clone()).unwrap().starts.len(), 1);
        assert!(Records::decode(bytes[..bytes.len() - 1].to_vec()).is_none());
        assert!(Records::decode(b"{\"version\":1}".to_vec()).is_none());
        assert!(Records::decode(b"kiln-statcache2\n".to_vec()).is_none());
    }

    #[test]
    fn a_cursor_finds_paths_in_and_out_of_order() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = tempfile::tempdir().unwrap();
        let mut c = StatCache::load(dir.path(), ctx.path());
        let paths: Vec<String> = (0..100).map(|i| format!("d/f{i:03}")).collect();
        for p in paths.iter().step_by(2) {
            c.insert(p.into(), Cached::new(&stat(100), D, at(300)));
        }
        c.save().unwrap();
        let c = StatCache::load(dir.path(), ctx.path());
        let mut order: Vec<&String> = paths.iter().collect();
        order.extend(paths.iter().rev());
        order.extend([&paths[50], &paths[0], &paths[98], &paths[2]]);
        let mut cur = c.cursor();
        for p in order {
            let i: usize = p[3..].parse().unwrap();
            let want = i.is_multiple_of(2).then_some(D);
            assert_eq!(cur.lookup(Path::new(p), &stat(100)), want, "{p}");
        }
        assert_eq!(cur.lookup(Path::new("a"), &stat(100)), None);
        assert_eq!(cur.lookup(Path::new("z"), &stat(100)), None);
        assert_eq!(cur.lookup(Path::new("d/f098"), &stat(100)), Some(D));
    }

    #[test]
    fn unsorted_file_is_sorted_on_load() {
        let mut bytes = encoded(&["b"]);
        bytes.extend_from_slice(&encoded(&["a"])[MAGIC.len()..]);
        let r = Records::decode(bytes).unwrap();
        assert_eq!(r.path(0), b"a");
        assert!(r.get(b"a").is_some() && r.get(b"b").is_some());
    }
}
