//! The merged view of overlay lower directories at one path, copied into a
//! volume: the topmost layer that has an entry wins, overlay whiteouts
//! (0/0 character devices) hide an entry, and an opaque directory
//! (`trusted.overlay.opaque=y`) hides the layers below it. Symlinks are
//! copied as links, never followed, so a layer cannot make the copy read
//! outside the image.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{chown, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Copies what the image shows at `path` (absolute, inside the image) from
/// `lowers` (top first) into the existing directory `dst`.
pub fn copy_merged(lowers: &[PathBuf], path: &Path, dst: &Path) -> io::Result<()> {
    let rel: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let dirs = stack(lowers, &rel);
    if let Some(top) = dirs.first() {
        let meta = fs::symlink_metadata(top)?;
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        chown(dst, Some(meta.uid()), Some(meta.gid()))?;
    }
    merge_dir(&dirs, dst)
}

/// The directories making up `rel` in the merged view, top first.
fn stack(lowers: &[PathBuf], rel: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for lower in lowers {
        let p = lower.join(rel);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() && !has_symlink_parent(lower, rel) => {
                dirs.push(p.clone());
                if is_opaque(&p) {
                    break;
                }
            }
            // A file, link or whiteout hides every layer below it.
            Ok(_) => break,
            Err(_) => continue,
        }
    }
    dirs
}

/// A path through a symlinked directory is not the image's directory.
fn has_symlink_parent(lower: &Path, rel: &Path) -> bool {
    let mut p = lower.to_path_buf();
    for c in rel.parent().into_iter().flat_map(|r| r.components()) {
        p.push(c);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
    }
    false
}

fn is_opaque(dir: &Path) -> bool {
    let mut buf = [0u8; 4];
    let Ok(c) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()))
    else {
        return false;
    };
    // SAFETY: reads at most buf.len() bytes into buf.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn merge_dir(dirs: &[PathBuf], dst: &Path) -> io::Result<()> {
    let mut names = BTreeSet::<OsString>::new();
    for d in dirs {
        for e in fs::read_dir(d)? {
            names.insert(e?.file_name());
        }
    }
    for name in names {
        let rel = Path::new(&name);
        let Some((top, meta)) = dirs.iter().find_map(|d| {
            let p = d.join(rel);
            fs::symlink_metadata(&p).ok().map(|m| (p, m))
        }) else {
            continue;
        };
        if is_whiteout(&meta) {
            continue;
        }
        let target = dst.join(rel);
        if meta.is_dir() {
            fs::create_dir_all(&target)?;
            let below: Vec<PathBuf> = stack(dirs, rel);
            merge_dir(&below, &target)?;
        } else if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&top)?, &target)?;
        } else if meta.is_file() {
            fs::copy(&top, &target)?;
        } else {
            continue;
        }
        copy_owner_mode(&meta, &target)?;
    }
    Ok(())
}

fn copy_owner_mode(meta: &fs::Metadata, target: &Path) -> io::Result<()> {
    std::os::unix::fs::lchown(target, Some(meta.uid()), Some(meta.gid()))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(target, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_layers_win_and_links_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let (top, base, dst) = (
            t.path().join("top"),
            t.path().join("base"),
            t.path().join("v"),
        );
        for d in [&top, &base] {
            fs::create_dir_all(d.join("data/sub")).unwrap();
        }
        fs::create_dir(&dst).unwrap();
        fs::write(base.join("data/a"), "base").unwrap();
        fs::write(top.join("data/a"), "top").unwrap();
        fs::write(base.join("data/sub/b"), "b").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", top.join("data/link")).unwrap();
        copy_merged(&[top, base], Path::new("/data"), &dst).unwrap();
        assert_eq!(fs::read_to_string(dst.join("a")).unwrap(), "top");
        assert_eq!(fs::read_to_string(dst.join("sub/b")).unwrap(), "b");
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }
}
