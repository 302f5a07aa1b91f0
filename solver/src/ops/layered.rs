//! A read-only view of a root filesystem made of snapshot directories
//! (overlay lowers, top first) without mounting it: lookups honour overlay
//! whiteouts and opaque directories. COPY reads `--from` stages through it
//! and looks up the destination's existing directories and /etc files.

use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use kiln_cache::layer::whiteout;

/// Layer directories, top first.
#[derive(Debug, Clone, Default)]
pub struct Layered {
    pub layers: Vec<PathBuf>,
}

fn is_whiteout(m: &Metadata) -> bool {
    whiteout::is_overlay_whiteout(m)
}

impl Layered {
    pub fn new(layers: Vec<PathBuf>) -> Layered {
        Layered { layers }
    }

    /// The entry at `rel` (no symlinks followed): its real path and lstat.
    pub fn lookup(&self, rel: &Path) -> Option<(PathBuf, Metadata)> {
        let parts: Vec<&std::ffi::OsStr> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        if parts.is_empty() {
            let top = self.layers.first()?;
            return fs::symlink_metadata(top).ok().map(|m| (top.clone(), m));
        }
        'layers: for layer in &self.layers {
            let mut dir = layer.clone();
            for (i, part) in parts.iter().enumerate() {
                let p = dir.join(part);
                let Ok(m) = fs::symlink_metadata(&p) else {
                    // Missing here: an opaque parent hides every lower layer.
                    if i > 0 && whiteout::is_opaque(&dir).unwrap_or(false) {
                        return None;
                    }
                    continue 'layers;
                };
                if is_whiteout(&m) {
                    return None;
                }
                if i + 1 == parts.len() {
                    return Some((p, m));
                }
                if !m.is_dir() {
                    return None;
                }
                dir = p;
            }
        }
        None
    }

    /// The merged listing of directory `rel`, sorted by name.
    pub fn read_dir(&self, rel: &Path) -> Vec<(std::ffi::OsString, PathBuf, Metadata)> {
        let mut seen = std::collections::BTreeMap::new();
        let mut hidden = std::collections::BTreeSet::new();
        for layer in &self.layers {
            let dir = layer.join(rel);
            let Ok(m) = fs::symlink_metadata(&dir) else {
                continue;
            };
            if is_whiteout(&m) || !m.is_dir() {
                break;
            }
            if let Ok(rd) = fs::read_dir(&dir) {
                for e in rd.flatten() {
                    let name = e.file_name();
                    if seen.contains_key(&name) || hidden.contains(&name) {
                        continue;
                    }
                    let Ok(m) = e.metadata() else { continue };
                    if is_whiteout(&m) {
                        hidden.insert(name);
                    } else {
                        seen.insert(name, (e.path(), m));
                    }
                }
            }
            if whiteout::is_opaque(&dir).unwrap_or(false) {
                break;
            }
        }
        seen.into_iter().map(|(n, (p, m))| (n, p, m)).collect()
    }

    /// `rel` with symlinks resolved inside this root (`/` is the root).
    pub fn resolve(&self, rel: &Path, follow_last: bool) -> PathBuf {
        let mut todo: Vec<PathBuf> = rel
            .components()
            .rev()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(PathBuf::from(n)),
                _ => None,
            })
            .collect();
        let mut done = PathBuf::new();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            let candidate = done.join(&part);
            let last = todo.is_empty();
            match self.lookup(&candidate) {
                Some((p, m))
                    if m.file_type().is_symlink() && (follow_last || !last) && hops < 40 =>
                {
                    hops += 1;
                    let target = fs::read_link(&p).unwrap_or_default();
                    let base = if target.is_absolute() {
                        PathBuf::new()
                    } else {
                        done.clone()
                    };
                    let mut next = base;
                    for c in target.components() {
                        match c {
                            Component::Normal(n) => next.push(n),
                            Component::ParentDir => {
                                next.pop();
                            }
                            _ => {}
                        }
                    }
                    for c in next.components().rev() {
                        todo.push(PathBuf::from(c.as_os_str()));
                    }
                    done = PathBuf::new();
                }
                _ => done = candidate,
            }
        }
        done
    }

    /// A file's text (e.g. /etc/passwd), empty when absent.
    pub fn read_text(&self, rel: &str) -> String {
        let path = self.resolve(Path::new(rel), true);
        self.lookup(&path)
            .filter(|(_, m)| m.is_file())
            .and_then(|(p, _)| fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    pub fn is_dir(&self, rel: &Path) -> bool {
        let path = self.resolve(rel, true);
        self.lookup(&path).is_some_and(|(_, m)| m.is_dir())
    }
}

/// Owner and mode of a directory, for recreating it in a new layer.
pub fn dir_meta(m: &Metadata) -> (u32, u32, u32) {
    (m.uid(), m.gid(), m.mode() & 0o7777)
}
