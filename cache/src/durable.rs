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

/// Starts writing a file's dirty pages to disk and returns at once. Not a
/// flush (nothing is durable until the `syncfs` that follows), but the disk
/// then works while the CPU unpacks the next layer, and that one flush at
/// the end has less left to wait for. A hint: failure changes nothing.
pub(crate) fn start_writeback(file: &File) {
    // SAFETY: sync_file_range takes a valid open descriptor, which `file`
    // owns for the duration of the call; offset 0 and length 0 mean the
    // whole file.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
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
