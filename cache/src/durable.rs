//! Making writes survive a power cut: data is flushed before the rename
//! that makes it visible, and the directory is flushed after, so a name
//! never points at bytes that did not reach the disk.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Flushes a directory's entries (a rename or unlink inside it).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Flushes the whole filesystem holding `path`: one `syncfs` instead of an
/// fsync per file of an unpacked layer (tens of thousands of files).
pub(crate) fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    // SAFETY: syncfs takes a valid open descriptor, which `dir` owns for the
    // duration of the call.
    let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
