//! `kiln diff`: what a container changed, read from its overlay upper
//! directory as Docker's overlay driver reports it: `A` added (absent from
//! every lower), `C` changed (present below), `D` deleted (a whiteout).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Added,
    Changed,
    Deleted,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Kind::Added => 'A',
            Kind::Changed => 'C',
            Kind::Deleted => 'D',
        }
    }
}

/// Every change under `upper`, sorted by path (paths start with `/`).
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> std::io::Result<Vec<(Kind, String)>> {
    let mut out = Vec::new();
    walk(upper, Path::new(""), lowers, &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn walk(
    upper: &Path,
    rel: &Path,
    lowers: &[PathBuf],
    out: &mut Vec<(Kind, String)>,
) -> std::io::Result<()> {
    for entry in fs::read_dir(upper.join(rel))? {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        let meta = entry.metadata()?;
        let shown = format!("/{}", rel.display());
        let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
        if whiteout {
            out.push((Kind::Deleted, shown));
            continue;
        }
        let below = lowers
            .iter()
            .find_map(|l| fs::symlink_metadata(l.join(&rel)).ok());
        let copied_up = below.as_ref().is_some_and(|b| only_copied_up(&meta, b))
            && !is_opaque(&upper.join(&rel));
        if meta.is_dir() && copied_up {
            let before = out.len();
            walk(upper, &rel, lowers, out)?;
            if out.len() > before {
                out.push((Kind::Changed, shown));
            }
            continue;
        }
        let kind = if below.is_some() {
            Kind::Changed
        } else {
            Kind::Added
        };
        out.push((kind, shown));
        if meta.is_dir() {
            walk(upper, &rel, lowers, out)?;
        }
    }
    Ok(())
}

/// A directory overlayfs copied up only to hold a mount point the runtime
/// made and removed again (the /etc stubs): same type, mode and owner as
/// below. Docker never shows these (its init layer holds the mount points),
/// so it counts only when something under it changed.
fn only_copied_up(upper: &fs::Metadata, below: &fs::Metadata) -> bool {
    below.is_dir()
        && upper.mode() == below.mode()
        && upper.uid() == below.uid()
        && upper.gid() == below.gid()
}

/// An opaque directory replaced the one below: a change even when empty.
fn is_opaque(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut value = [0u8; 1];
    // SAFETY: both buffers are valid for the lengths given.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_changed_deleted() {
        let t = tempfile::tempdir().unwrap();
        let (upper, lower) = (t.path().join("u"), t.path().join("l"));
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::write(lower.join("etc/passwd"), "x").unwrap();
        fs::write(upper.join("etc/passwd"), "y").unwrap();
        fs::write(upper.join("new"), "n").unwrap();
        fs::create_dir_all(upper.join("var")).unwrap();
        fs::create_dir_all(lower.join("var")).unwrap();
        let got = changes(&upper, &[lower]).unwrap();
        let text: Vec<String> = got
            .iter()
            .map(|(k, p)| format!("{} {p}", k.letter()))
            .collect();
        assert_eq!(text, ["C /etc", "C /etc/passwd", "A /new"]);
    }
}
