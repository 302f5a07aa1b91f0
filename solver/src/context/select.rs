//! Choosing COPY/ADD sources in the build context: path cleaning, the
//! refusal of anything outside the context (`../x`, symlinks leading out),
//! wildcards, and a directory's contents. Works on the walked entry list,
//! so `.dockerignore`d files are never selected.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::glob;
use super::{Entry, EntryKind};

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("forbidden path outside the build context: {0}")]
    Outside(String),
    #[error("\"/{0}\": not found")]
    NotFound(String),
    #[error("{0}: too many levels of symbolic links")]
    Loop(String),
}

/// One selected source: what the destination calls it and what it holds.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The name the source has at the destination (the path as written,
    /// before a symlink was followed).
    pub name: String,
    /// Where it really is in the context.
    pub root: PathBuf,
    pub kind: EntryKind,
    /// The source entry itself, then everything below it (for a directory):
    /// the index's own entries, shared.
    pub entries: Vec<Arc<Entry>>,
}

/// The walked context, sorted bytewise by path.
#[derive(Debug, Default)]
pub struct ContextIndex {
    entries: Vec<Arc<Entry>>,
    links: HashMap<PathBuf, PathBuf>,
}

/// `path` cleaned as Go's `filepath.Clean` relative to the context root;
/// `None` when it climbs out of it.
pub fn clean(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

impl ContextIndex {
    /// Indexes walked `entries` of the context at `root`, reading the
    /// targets of its symlinks (unreadable ones count as dangling).
    pub fn new(root: &Path, entries: Vec<Arc<Entry>>) -> ContextIndex {
        let links = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Symlink)
            .filter_map(|e| Some((e.path.clone(), std::fs::read_link(root.join(&e.path)).ok()?)))
            .collect();
        ContextIndex { entries, links }
    }

    pub fn entries(&self) -> &[Arc<Entry>] {
        &self.entries
    }

    fn find(&self, path: &Path) -> Option<&Arc<Entry>> {
        let key = path.as_os_str().as_encoded_bytes();
        self.entries
            .binary_search_by(|e| e.path.as_os_str().as_encoded_bytes().cmp(key))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Everything strictly below `dir` (all of it for the root).
    fn below(&self, dir: &Path) -> Vec<Arc<Entry>> {
        if dir.as_os_str().is_empty() {
            return self.entries.clone();
        }
        let mut prefix = dir.as_os_str().as_encoded_bytes().to_vec();
        prefix.push(b'/');
        let start = self
            .entries
            .partition_point(|e| e.path.as_os_str().as_encoded_bytes() < prefix.as_slice());
        self.entries[start..]
            .iter()
            .take_while(|e| e.path.as_os_str().as_encoded_bytes().starts_with(&prefix))
            .cloned()
            .collect()
    }

    /// The sources one COPY argument selects (several with wildcards).
    pub fn select(&self, source: &str) -> Result<Vec<Selected>, SelectError> {
        let cleaned = clean(source).ok_or_else(|| SelectError::Outside(source.to_string()))?;
        let text = cleaned.to_string_lossy().into_owned();
        if !glob::has_wildcards(&text) {
            return Ok(vec![self.select_path(&cleaned, source)?]);
        }
        let parts: Vec<&str> = text.split('/').collect();
        let mut out = Vec::new();
        for e in &self.entries {
            let p = e.path.to_string_lossy();
            let comps: Vec<&str> = p.split('/').collect();
            let hit = comps.len() == parts.len()
                && parts
                    .iter()
                    .zip(&comps)
                    .all(|(pat, c)| glob::matches(pat, c));
            if hit {
                out.push(self.select_path(&e.path, &p)?);
            }
        }
        if out.is_empty() {
            return Err(SelectError::NotFound(text));
        }
        Ok(out)
    }

    fn select_path(&self, path: &Path, written: &str) -> Result<Selected, SelectError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let root = self.resolve(path, written)?;
        if root.as_os_str().is_empty() {
            return Ok(Selected {
                name,
                root,
                kind: EntryKind::Dir,
                entries: self.entries.clone(),
            });
        }
        let entry = self
            .find(&root)
            .ok_or_else(|| SelectError::NotFound(path.to_string_lossy().into_owned()))?
            .clone();
        let kind = entry.kind;
        let mut entries = vec![entry];
        if kind == EntryKind::Dir {
            entries.extend(self.below(&root));
        }
        Ok(Selected {
            name,
            root,
            kind,
            entries,
        })
    }

    /// Follows symlinks in `path` (every component, the last too, as
    /// BuildKit follows COPY sources) without leaving the context.
    fn resolve(&self, path: &Path, written: &str) -> Result<PathBuf, SelectError> {
        let mut todo: Vec<PathBuf> = path
            .components()
            .rev()
            .map(|c| PathBuf::from(c.as_os_str()))
            .collect();
        let mut done = PathBuf::new();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            let candidate = done.join(&part);
            let Some(e) = self.find(&candidate) else {
                done = candidate;
                continue;
            };
            if e.kind != EntryKind::Symlink {
                done = candidate;
                continue;
            }
            hops += 1;
            if hops > 40 {
                return Err(SelectError::Loop(written.to_string()));
            }
            let target = self.links.get(&candidate).cloned().unwrap_or_default();
            let joined = if target.is_absolute() {
                target
            } else {
                done.join(target)
            };
            // A target that climbs above the root leaves the context: refused,
            // never clamped (the user asked for a file that is not sent).
            let Some(next) = clean_strict(&joined) else {
                return Err(SelectError::Outside(written.to_string()));
            };
            for c in next.components().rev() {
                todo.push(PathBuf::from(c.as_os_str()));
            }
            done = PathBuf::new();
        }
        Ok(done)
    }
}

/// Like [`clean`], but an absolute path is taken relative to the root and
/// `..` at the root is an escape.
fn clean_strict(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => return None,
            Component::ParentDir => {}
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::walk_shared;
    use kiln_parser::ignore::Matcher;
    use std::os::unix::fs::symlink;

    fn index(dir: &Path, ignore: &str) -> ContextIndex {
        let m = Matcher::parse(".dockerignore", ignore).unwrap();
        ContextIndex::new(dir, walk_shared(dir, &m).unwrap())
    }

    fn names(sel: &[Selected]) -> Vec<String> {
        sel.iter()
            .map(|s| s.root.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn outside_paths_and_escaping_links_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.txt"), "a").unwrap();
        symlink("../../etc/passwd", d.path().join("out")).unwrap();
        symlink("/a.txt", d.path().join("abs")).unwrap();
        let ix = index(d.path(), "");
        assert!(matches!(ix.select("../x"), Err(SelectError::Outside(_))));
        assert!(matches!(ix.select("out"), Err(SelectError::Outside(_))));
        // An absolute target means the context root, as BuildKit scopes it.
        assert_eq!(names(&ix.select("abs").unwrap()), ["a.txt"]);
    }

    #[test]
    fn wildcards_dirs_and_ignored_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("dir")).unwrap();
        for f in ["a.txt", "b.txt", "c.md", "dir/x", "secret.txt"] {
            std::fs::write(d.path().join(f), f).unwrap();
        }
        let ix = index(d.path(), "secret.txt\n");
        assert_eq!(names(&ix.select("*.txt").unwrap()), ["a.txt", "b.txt"]);
        let dir = ix.select("./dir/").unwrap();
        assert_eq!(dir[0].entries.len(), 2);
        assert!(matches!(
            ix.select("secret.txt"),
            Err(SelectError::NotFound(_))
        ));
        assert!(matches!(ix.select("*.rs"), Err(SelectError::NotFound(_))));
        assert_eq!(ix.select(".").unwrap()[0].entries.len(), ix.entries().len());
    }
}
