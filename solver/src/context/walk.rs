//! Walk a context directory and return what a build would send: every
//! included file, directory and symlink, relative to the root, sorted
//! bytewise. Symlinks are listed, never followed, so the walk cannot leave
//! the directory. Subdirectories are walked in parallel (rayon).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_parser::ignore::{Matcher, ParentMatch};
use rayon::prelude::*;

use super::entry::WalkItem;
use super::{ContextError, Entry, EntryKind, Listed};

/// Every included path under `root`, as BuildKit's file walker would send
/// it. An excluded directory is skipped whole unless an exception could
/// re-include something below it; then it is walked, and listed itself
/// only if something below it is kept (a kept file needs its parent).
pub fn walk(root: &Path, matcher: &Matcher) -> Result<Vec<Entry>, ContextError> {
    walk_items(root, matcher)
}

/// [`walk`]'s entries, each shared (what a build indexes and selects from).
pub fn walk_shared(root: &Path, matcher: &Matcher) -> Result<Vec<Arc<Entry>>, ContextError> {
    walk_items(root, matcher)
}

/// The same paths as [`walk`] with their types only: no `lstat` per path,
/// as `find` does (what `kiln context ls` prints).
pub fn list(root: &Path, matcher: &Matcher) -> Result<Vec<Listed>, ContextError> {
    walk_items(root, matcher)
}

fn walk_items<T: WalkItem>(root: &Path, matcher: &Matcher) -> Result<Vec<T>, ContextError> {
    let meta = std::fs::metadata(root).map_err(|source| ContextError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ContextError::NotADirectory(root.to_path_buf()));
    }
    let walker = Walker { matcher };
    let mut entries: Vec<T> = walker.dir(root, Path::new(""), None)?;
    entries.par_sort_unstable_by(|a, b| bytes(a.path()).cmp(bytes(b.path())));
    Ok(entries)
}

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// A subdirectory still to walk: where it is, what matched it, and its own
/// entry when it is excluded and only listed if something below is kept.
struct Pending<T> {
    abs: PathBuf,
    rel: PathBuf,
    matched: ParentMatch,
    excluded_dir: Option<T>,
}

struct Walker<'a> {
    matcher: &'a Matcher,
}

impl Walker<'_> {
    fn dir<T: WalkItem>(
        &self,
        abs: &Path,
        rel: &Path,
        parent: Option<&ParentMatch>,
    ) -> Result<Vec<T>, ContextError> {
        let matcher = self.matcher;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ContextError::Io { path, source }
        };
        let mut kept = Vec::new();
        let mut subdirs = Vec::new();
        for dirent in std::fs::read_dir(abs).map_err(io(abs))? {
            let dirent = dirent.map_err(io(abs))?;
            let entry =
                T::read(rel.join(dirent.file_name()), &dirent).map_err(io(&dirent.path()))?;
            let (excluded, matched) = if matcher.is_empty() {
                (false, ParentMatch::default())
            } else {
                let (d, m) = matcher.evaluate(&entry.path().to_string_lossy(), parent)?;
                (d.excluded, m)
            };
            if entry.kind() != EntryKind::Dir {
                if !excluded {
                    kept.push(entry);
                }
                continue;
            }
            if excluded && !matcher.may_reinclude_below(&entry.path().to_string_lossy()) {
                continue;
            }
            let rel = entry.path().to_path_buf();
            let excluded_dir = if excluded {
                Some(entry)
            } else {
                kept.push(entry);
                None
            };
            subdirs.push(Pending {
                abs: abs.join(dirent.file_name()),
                rel,
                matched,
                excluded_dir,
            });
        }
        let below: Vec<Vec<T>> = subdirs
            .into_par_iter()
            .map(|p| {
                let mut below = self.dir(&p.abs, &p.rel, Some(&p.matched))?;
                if let Some(dir) = p.excluded_dir.filter(|_| !below.is_empty()) {
                    below.push(dir);
                }
                Ok(below)
            })
            .collect::<Result<_, ContextError>>()?;
        Ok(concat(kept, below))
    }
}

/// All of `kept` and `below` in one vector, in no particular order (the
/// walk sorts at the end). The largest part is grown in place rather than
/// copied: a context with one big directory would otherwise hold all its
/// entries twice for a moment.
fn concat<T>(kept: Vec<T>, below: Vec<Vec<T>>) -> Vec<T> {
    let mut parts = below;
    parts.push(kept);
    let largest = (0..parts.len())
        .max_by_key(|&i| parts[i].len())
        .unwrap_or(0);
    let mut all = parts.swap_remove(largest);
    all.reserve(parts.iter().map(Vec::len).sum());
    for part in parts {
        all.extend(part);
    }
    all
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            if let Some(stripped) = f.strip_suffix('/') {
                fs::create_dir_all(dir.path().join(stripped)).unwrap();
            } else {
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, f).unwrap();
            }
        }
        dir
    }

    fn listing(root: &Path, ignore: &str) -> Vec<String> {
        let m = Matcher::parse(".dockerignore", ignore).unwrap();
        walk(root, &m)
            .unwrap()
            .into_iter()
            .map(|e| e.path.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn sorted_bytewise_with_dirs() {
        let t = tree(&["a/b", "a.txt", "B", "empty/"]);
        assert_eq!(listing(t.path(), ""), ["B", "a", "a.txt", "a/b", "empty"]);
    }

    #[test]
    fn excluded_parent_is_sent_with_reincluded_child() {
        let t = tree(&[
            "docs/README.md",
            "docs/other.md",
            "docs/sub/x",
            "src/main.rs",
        ]);
        assert_eq!(
            listing(t.path(), "docs\n!docs/README.md\n"),
            ["docs", "docs/README.md", "src", "src/main.rs"]
        );
        // No exception could reach below `docs`: nothing of it is listed.
        assert_eq!(listing(t.path(), "docs\n"), ["src", "src/main.rs"]);
    }

    #[test]
    fn symlinks_listed_not_followed() {
        let t = tree(&["real/f"]);
        symlink("/", t.path().join("escape")).unwrap();
        symlink("real", t.path().join("alias")).unwrap();
        let m = Matcher::default();
        let entries = walk(t.path(), &m).unwrap();
        let names: Vec<_> = entries
            .iter()
            .map(|e| (e.path.to_str().unwrap(), e.kind))
            .collect();
        assert_eq!(
            names,
            [
                ("alias", EntryKind::Symlink),
                ("escape", EntryKind::Symlink),
                ("real", EntryKind::Dir),
                ("real/f", EntryKind::File)
            ]
        );
    }

    #[test]
    fn wildcard_exception_deep_below_excluded_dir() {
        let t = tree(&["vendor/a/b/keep.txt", "vendor/a/b/drop.bin", "vendor/c"]);
        assert_eq!(
            listing(t.path(), "vendor\n!**/*.txt\n"),
            ["vendor", "vendor/a", "vendor/a/b", "vendor/a/b/keep.txt"]
        );
    }

    #[test]
    fn entry_carries_metadata() {
        let t = tree(&["f"]);
        let e = &walk(t.path(), &Matcher::default()).unwrap()[0];
        assert_eq!((e.kind, e.stat.size), (EntryKind::File, 1));
        assert_ne!(e.stat.ino, 0);
        let listed = list(t.path(), &Matcher::default()).unwrap();
        assert_eq!(
            (listed[0].path.as_path(), listed[0].kind),
            (Path::new("f"), EntryKind::File)
        );
    }

    #[test]
    fn root_must_be_a_directory() {
        let t = tree(&["f"]);
        let err = list(&t.path().join("f"), &Matcher::default()).unwrap_err();
        assert!(matches!(err, ContextError::NotADirectory(_)));
    }
}
