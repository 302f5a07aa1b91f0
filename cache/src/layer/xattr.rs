//! Extended attributes of a path, never following a final symlink. std has
//! no xattr calls and nix has none either, so these wrap libc's l*xattr.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "xattr name contains a NUL byte",
        )
    })
}

/// Retries a size-then-fill libc call when the value grows between the two.
fn sized_call(mut call: impl FnMut(*mut libc::c_void, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let size = call(std::ptr::null_mut(), 0);
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        // Most files have none: no second call for them.
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size as usize];
        let got = call(buf.as_mut_ptr().cast(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

/// Names of the attributes on `path`, sorted bytewise. Filesystems without
/// xattr support give an empty list, as tar does.
pub fn list(path: &Path) -> io::Result<Vec<OsString>> {
    let p = c_path(path)?;
    // SAFETY: p is a valid C string; buf/len describe a live buffer or are null/0.
    let raw = match sized_call(|buf, len| unsafe { libc::llistxattr(p.as_ptr(), buf.cast(), len) })
    {
        Ok(raw) => raw,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names: Vec<OsString> = raw
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| OsString::from_vec(n.to_vec()))
        .collect();
    names.sort();
    Ok(names)
}

/// The value of one attribute, or None when it is not set.
pub fn get(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let p = c_path(path)?;
    let n = c_name(name)?;
    // SAFETY: as in `list`.
    match sized_call(|buf, len| unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf, len) }) {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA) | Some(libc::ENOTSUP)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn set(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let p = c_path(path)?;
    let n = c_name(name)?;
    // SAFETY: p and n are valid C strings, value is a live slice.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
