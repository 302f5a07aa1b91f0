//! Content digests of context entries for cache keys: blake3 of a file's
//! bytes, a symlink's target, or nothing for a directory. Files are hashed
//! in parallel (rayon); the stat cache answers for unchanged files.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rayon::prelude::*;

use super::stat_cache::{now_ns, Cached, Cursor, StatCache};
use super::{ContextError, Entry, EntryKind};

/// Above this size a file is memory-mapped and hashed on several threads.
const MMAP_THRESHOLD: u64 = 4 << 20;

/// One digest per entry, in order: `file:<blake3>`, `link:<target>`, `dir`,
/// `other`. The cache is updated with what was read.
pub fn digests(
    root: &Path,
    entries: &[&Entry],
    cache: &mut StatCache,
) -> Result<Vec<String>, ContextError> {
    let started = now_ns();
    let shared: &StatCache = cache;
    // Fresh digests are boxed: in a cached rebuild there are none, and an
    // unboxed `Option<Cached>` beside each of 200,000 digests would be
    // 15 MiB of nothing.
    let results: Vec<(String, Option<Box<Cached>>)> = entries
        .par_iter()
        .map_init(
            || shared.cursor(),
            |cur, e| digest_one(root, e, cur, started),
        )
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(results.len());
    for (entry, (digest, fresh)) in entries.iter().zip(results) {
        if let Some(fresh) = fresh {
            cache.insert(entry.path.clone(), *fresh);
        }
        out.push(digest);
    }
    cache.settle();
    Ok(out)
}

fn digest_one(
    root: &Path,
    e: &Entry,
    cache: &mut Cursor<'_>,
    started: i128,
) -> Result<(String, Option<Box<Cached>>), ContextError> {
    let abs = || root.join(&e.path);
    let io = |source| ContextError::Io {
        path: abs(),
        source,
    };
    match e.kind {
        EntryKind::Dir => Ok(("dir".into(), None)),
        EntryKind::Other => Ok(("other".into(), None)),
        EntryKind::Symlink => {
            let abs = abs();
            let target = std::fs::read_link(&abs).map_err(io)?;
            let text = String::from_utf8_lossy(target.as_os_str().as_bytes());
            Ok((format!("link:{text}"), None))
        }
        EntryKind::File => {
            if let Some(d) = cache.lookup(&e.path, &e.stat) {
                return Ok((file_digest(&d), None));
            }
            let d = hash_file(&abs(), e.stat.size).map_err(io)?;
            let fresh = Cached::new(&e.stat, d, started);
            Ok((file_digest(&d), Some(Box::new(fresh))))
        }
    }
}

/// `file:` and the digest in hex, as cache keys spell a file's content.
fn file_digest(d: &[u8; 32]) -> String {
    let hex = blake3::Hash::from_bytes(*d).to_hex();
    let mut s = String::with_capacity(5 + hex.len());
    s.push_str("file:");
    s.push_str(&hex);
    s
}

fn hash_file(path: &Path, size: u64) -> std::io::Result<[u8; 32]> {
    let mut h = blake3::Hasher::new();
    if size >= MMAP_THRESHOLD {
        h.update_mmap_rayon(path)?;
    } else {
        let mut f = std::fs::File::open(path)?;
        let mut buf = [0u8; 64 << 10];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::walk;
    use kiln_parser::ignore::Matcher;

    #[test]
    fn content_not_mtime_decides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "one").unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("l")).unwrap();
        let entries = walk(dir.path(), &Matcher::default()).unwrap();
        let refs: Vec<&Entry> = entries.iter().collect();
        let mut cache = StatCache::in_memory();
        let first = digests(dir.path(), &refs, &mut cache).unwrap();
        assert_eq!(first[1], "link:a");
        // The spelling cache keys have always used: a stat cache format
        // must never change it.
        assert_eq!(first[0], format!("file:{}", blake3::hash(b"one").to_hex()));
        filetime_touch(&dir.path().join("a"));
        let entries = walk(dir.path(), &Matcher::default()).unwrap();
        let refs: Vec<&Entry> = entries.iter().collect();
        assert_eq!(digests(dir.path(), &refs, &mut cache).unwrap(), first);
        std::fs::write(dir.path().join("a"), "two").unwrap();
        let entries = walk(dir.path(), &Matcher::default()).unwrap();
        let refs: Vec<&Entry> = entries.iter().collect();
        assert_ne!(digests(dir.path(), &refs, &mut cache).unwrap(), first);
    }

    fn filetime_touch(p: &Path) {
        let f = std::fs::File::options().write(true).open(p).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    }
}
