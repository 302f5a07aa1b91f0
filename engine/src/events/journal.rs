//! `<root>/events.jsonl`: one JSON line per event, appended by any kiln
//! process. Each line is one `O_APPEND` write, which the kernel makes
//! whole against other appenders; lines longer than [`ATOMIC_LINE`], and
//! the rotation, are done under `events.lock` (a flock), as is journaling
//! an exit once. Once the file reaches [`ROTATE_AT`] it becomes
//! `events.jsonl.1` (replacing the older one): the newest 1-2 MiB of
//! events are kept. A line written to the old file while another process
//! renames it lands in `events.jsonl.1`, not nowhere.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Event;
use crate::Error;

pub(super) const FILE: &str = "events.jsonl";
pub(super) const OLD: &str = "events.jsonl.1";
const LOCK: &str = "events.lock";

/// The journal's size at which it is rotated.
pub const ROTATE_AT: u64 = 1 << 20;

/// Lines up to this size are appended without the lock (POSIX promises
/// pipes no more; a regular file's append is whole at any size on Linux,
/// the bound keeps the promise portable). An append costs four system
/// calls, paid by every container operation.
const ATOMIC_LINE: usize = 4096;

/// Nothing under the store root is for other users (see kiln_cache's
/// `PERMISSIONS`): the root is `0710`, these files `0600`.
const ROOT_MODE: u32 = 0o710;
const FILE_MODE: u32 = 0o600;

pub(super) struct Journal {
    root: PathBuf,
    rotate_at: u64,
}

/// The journal's lock, held while appending or rotating.
pub(super) struct Locked<'a> {
    journal: &'a Journal,
    _lock: File,
}

impl Journal {
    pub(super) fn new(root: &Path) -> Journal {
        Journal {
            root: root.to_path_buf(),
            rotate_at: ROTATE_AT,
        }
    }

    #[cfg(test)]
    pub(super) fn with_rotation(root: &Path, rotate_at: u64) -> Journal {
        Journal {
            root: root.to_path_buf(),
            rotate_at,
        }
    }

    pub(super) fn path(&self) -> PathBuf {
        self.root.join(FILE)
    }

    pub(super) fn old_path(&self) -> PathBuf {
        self.root.join(OLD)
    }

    pub(super) fn append(&self, event: &Event) -> Result<(), Error> {
        let line = encode(event)?;
        if line.len() > ATOMIC_LINE {
            return self.lock()?.append_line(&line);
        }
        let path = self.path();
        let (mut file, size) = match private_file(&path, true) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.ensure_root()?;
                private_file(&path, true)
            }
            opened => opened,
        }
        .map_err(fail("opening", &path))?;
        if size + line.len() as u64 > self.rotate_at && size > 0 {
            drop(file);
            return self.lock()?.append_line(&line);
        }
        file.write_all(&line).map_err(fail("writing", &path))
    }

    pub(super) fn lock(&self) -> Result<Locked<'_>, Error> {
        self.ensure_root()?;
        let path = self.root.join(LOCK);
        let (file, _) = private_file(&path, false).map_err(fail("opening", &path))?;
        file.lock().map_err(fail("locking", &path))?;
        Ok(Locked {
            journal: self,
            _lock: file,
        })
    }

    fn ensure_root(&self) -> Result<(), Error> {
        if self.root.is_dir() {
            return Ok(());
        }
        if let Some(parent) = self.root.parent() {
            fs::create_dir_all(parent).map_err(fail("creating", parent))?;
        }
        match fs::DirBuilder::new().mode(ROOT_MODE).create(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                Err(fail("creating", &self.root)(e))
            }
            _ => Ok(()),
        }
    }
}

impl Locked<'_> {
    pub(super) fn append(&self, event: &Event) -> Result<(), Error> {
        self.append_line(&encode(event)?)
    }

    /// Appends `line`, rotating first if it would not fit (asked again
    /// under the lock: another process may have rotated meanwhile).
    fn append_line(&self, line: &[u8]) -> Result<(), Error> {
        let path = self.journal.path();
        let size = fs::metadata(&path).map_or(0, |m| m.len());
        if size > 0 && size + line.len() as u64 > self.journal.rotate_at {
            let old = self.journal.old_path();
            fs::rename(&path, &old).map_err(fail("rotating", &path))?;
        }
        let (mut file, _) = private_file(&path, true).map_err(fail("opening", &path))?;
        file.write_all(line).map_err(fail("writing", &path))
    }
}

fn encode(event: &Event) -> Result<Vec<u8>, Error> {
    let mut line = serde_json::to_vec(event).map_err(Error::EventEncode)?;
    line.push(b'\n');
    Ok(line)
}

/// Opens (creating, `0600`) a file under the root, and its size; one
/// found more open than that is tightened.
fn private_file(path: &Path, append: bool) -> io::Result<(File, u64)> {
    let file = OpenOptions::new()
        .create(true)
        .append(append)
        .write(!append)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    let meta = file.metadata()?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & !FILE_MODE != 0 {
        file.set_permissions(fs::Permissions::from_mode(mode & FILE_MODE))?;
    }
    Ok((file, meta.len()))
}

pub(super) fn fail<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Events {
        op,
        path: path.to_path_buf(),
        source,
    }
}
