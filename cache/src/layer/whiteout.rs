//! The two spellings of "deleted here": overlayfs marks a removed file with a
//! 0/0 character device and a replaced directory with the
//! `trusted.overlay.opaque=y` xattr; OCI layers (image-spec layer.md) spell
//! them `.wh.NAME` and `DIR/.wh..wh..opq`. Snapshots are overlay lowers, so
//! they hold the overlay form; layer tars hold the OCI form.

use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::xattr;

pub const PREFIX: &str = ".wh.";
pub const OPAQUE: &str = ".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Unprivileged overlay mounts (`userxattr`) use the `user.` namespace.
pub const USER_OPAQUE_XATTR: &str = "user.overlay.opaque";

/// What a tar entry's base name means.
#[derive(Debug, PartialEq, Eq)]
pub enum OciName<'a> {
    /// `.wh..wh..opq`: hide everything below the parent in lower layers.
    Opaque,
    /// `.wh.NAME`: NAME is deleted.
    Remove(&'a OsStr),
    /// An ordinary file name.
    Plain,
}

pub fn classify(base: &OsStr) -> OciName<'_> {
    let bytes = base.as_bytes();
    if bytes == OPAQUE.as_bytes() {
        OciName::Opaque
    } else if let Some(name) = bytes.strip_prefix(PREFIX.as_bytes()) {
        OciName::Remove(OsStr::from_bytes(name))
    } else {
        OciName::Plain
    }
}

/// `.wh.NAME` for a deleted NAME.
pub fn oci_name(name: &OsStr) -> OsString {
    let mut out = OsString::from(PREFIX);
    out.push(name);
    out
}

/// Is this the overlay whiteout form: a character device numbered 0/0?
pub fn is_overlay_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Does this directory hide the lower layers' contents?
pub fn is_opaque(dir: &Path) -> io::Result<bool> {
    for name in [OPAQUE_XATTR, USER_OPAQUE_XATTR] {
        if xattr::get(dir, OsStr::new(name))?.as_deref() == Some(b"y") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Xattrs that belong to overlayfs itself and never travel in a layer.
pub fn is_overlay_xattr(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.starts_with(b"trusted.overlay.") || b.starts_with(b"user.overlay.")
}

/// Writes the overlay whiteout for a deleted `path`.
pub fn make_overlay_whiteout(path: &Path) -> io::Result<()> {
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .map_err(io::Error::from)
}

pub fn set_opaque(dir: &Path) -> io::Result<()> {
    xattr::set(dir, OsStr::new(OPAQUE_XATTR), b"y")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified() {
        assert_eq!(classify(OsStr::new(".wh..wh..opq")), OciName::Opaque);
        assert_eq!(
            classify(OsStr::new(".wh.passwd")),
            OciName::Remove(OsStr::new("passwd"))
        );
        assert_eq!(classify(OsStr::new("passwd")), OciName::Plain);
        assert_eq!(oci_name(OsStr::new("x")), OsString::from(".wh.x"));
    }

    #[test]
    fn overlay_xattrs_are_recognised() {
        assert!(is_overlay_xattr(OsStr::new("trusted.overlay.opaque")));
        assert!(is_overlay_xattr(OsStr::new("user.overlay.redirect")));
        assert!(!is_overlay_xattr(OsStr::new("security.capability")));
    }
}
