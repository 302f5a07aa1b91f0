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
            .any(|l| fs::symlink_metadata(l.join(&rel)).is_ok());
        out.push((if below { Kind::Changed } else { Kind::Added }, shown));
        if meta.is_dir() {
            walk(upper, &rel, lowers, out)?;
        }
    }
    Ok(())
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
        let got = changes(&upper, &[lower]).unwrap();
        let text: Vec<String> = got
            .iter()
            .map(|(k, p)| format!("{} {p}", k.letter()))
            .collect();
        assert_eq!(text, ["C /etc", "C /etc/passwd", "A /new"]);
    }
}
