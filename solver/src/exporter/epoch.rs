//! SOURCE_DATE_EPOCH on a new layer's directory: every entry newer than
//! the epoch gets the epoch as its mtime before the layer is written, so
//! the snapshot `kiln run` uses and the tar an export writes agree (BuildKit
//! clamps with `rewrite-timestamp`; kiln does it for every new layer).

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Clamps a new layer's directory to the build's SOURCE_DATE_EPOCH, when
/// it has one.
pub fn clamp_layer(dir: &Path, epoch: Option<i64>) -> Result<(), crate::BuildError> {
    match epoch {
        Some(epoch) => Ok(clamp_tree(dir, epoch).map_err(super::error::ExportError::Clamp)?),
        None => Ok(()),
    }
}

/// Clamps the mtimes under `dir` (and of `dir`) to `epoch`.
pub fn clamp_tree(dir: &Path, epoch: i64) -> std::io::Result<()> {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd {
            let e = e?;
            let path = e.path();
            if e.file_type()?.is_dir() {
                clamp_tree(&path, epoch)?;
            } else {
                clamp(&path, epoch)?;
            }
        }
    }
    clamp(dir, epoch)
}

fn clamp(path: &Path, epoch: i64) -> std::io::Result<()> {
    let m = fs::symlink_metadata(path)?;
    if m.mtime() <= epoch {
        return Ok(());
    }
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let t = libc::timespec {
        tv_sec: epoch,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: a valid C string and two timespecs, as utimensat requires.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
