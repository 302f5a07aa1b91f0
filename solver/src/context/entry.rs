//! One path of the build context: [`Entry`] with its `lstat` metadata
//! (enough for content hashing and a git-index-like stat cache, DESIGN.md:
//! keyed by path, inode, size, mtime, ctime), or [`Listed`] with its type
//! alone, which a listing gets from the directory entry without a stat.

use std::fs::{DirEntry, FileType, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A fifo, socket or device node: sent as metadata only.
    Other,
}

/// The `lstat` results a build uses (never of the target of a symlink):
/// the mode for cache keys, the rest for the stat cache. Owners, device
/// and link count are left out: copies read them from the file itself, and
/// every byte here is multiplied by the context's file count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stat {
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    pub size: u64,
    pub ino: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
    pub ctime_sec: i64,
    pub ctime_nsec: i64,
}

impl From<&Metadata> for Stat {
    fn from(m: &Metadata) -> Stat {
        Stat {
            mode: m.mode(),
            size: m.size(),
            ino: m.ino(),
            mtime_sec: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            ctime_sec: m.ctime(),
            ctime_nsec: m.ctime_nsec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Relative to the context root, never empty, no `.` or `..` parts.
    pub path: PathBuf,
    pub kind: EntryKind,
    pub stat: Stat,
}

#[cfg(test)]
impl Entry {
    /// A one-byte regular file at `path`, for tests of keys built from lists.
    pub(crate) fn file_fixture(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            stat: Stat {
                mode: 0o100644,
                size: 1,
                ino: 1,
                mtime_sec: 0,
                mtime_nsec: 0,
                ctime_sec: 0,
                ctime_nsec: 0,
            },
        }
    }
}

/// A path and its type, as a listing needs them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Listed {
    pub path: PathBuf,
    pub kind: EntryKind,
}

/// What a walk makes of one directory entry. `DirEntry::file_type` and
/// `DirEntry::metadata` do not follow symlinks: a symlink is described,
/// never entered.
pub(crate) trait WalkItem: Send + Sized {
    fn read(path: PathBuf, dirent: &DirEntry) -> std::io::Result<Self>;
    fn path(&self) -> &Path;
    fn kind(&self) -> EntryKind;
}

impl WalkItem for Entry {
    fn read(path: PathBuf, dirent: &DirEntry) -> std::io::Result<Entry> {
        let meta = dirent.metadata()?;
        Ok(Entry {
            path,
            kind: EntryKind::from(meta.file_type()),
            stat: Stat::from(&meta),
        })
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn kind(&self) -> EntryKind {
        self.kind
    }
}

/// Shared, so that what a COPY selects is the index's entries, not copies
/// of them.
impl WalkItem for Arc<Entry> {
    fn read(path: PathBuf, dirent: &DirEntry) -> std::io::Result<Arc<Entry>> {
        Entry::read(path, dirent).map(Arc::new)
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn kind(&self) -> EntryKind {
        self.kind
    }
}

impl WalkItem for Listed {
    fn read(path: PathBuf, dirent: &DirEntry) -> std::io::Result<Listed> {
        Ok(Listed {
            path,
            kind: EntryKind::from(dirent.file_type()?),
        })
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn kind(&self) -> EntryKind {
        self.kind
    }
}

impl From<FileType> for EntryKind {
    fn from(t: FileType) -> EntryKind {
        if t.is_symlink() {
            EntryKind::Symlink
        } else if t.is_dir() {
            EntryKind::Dir
        } else if t.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        }
    }
}
