//! A context path as the build sends it, for a bind mount: what the
//! ignore file excludes is not there (BuildKit mounts its filtered copy of
//! the context, so `RUN --mount=type=bind` never sees an ignored file).

use std::fs;
use std::path::Path;

use kiln_parser::ignore::Matcher;

use crate::context::{walk, EntryKind};

use super::tree::{entry, owner_and_mode};
use super::{io, MountError};

/// Fills `dest` with `rel` (a path inside the context root `root`,
/// symlinks resolved) minus what `matcher` excludes: hard links when
/// `link` (a read-only bind), copies otherwise.
pub fn context_tree(
    root: &Path,
    rel: &Path,
    matcher: &Matcher,
    dest: &Path,
    link: bool,
) -> Result<(), MountError> {
    let shown = || MountError::NotFound(rel.display().to_string());
    let top = root.join(rel);
    let meta = fs::symlink_metadata(&top).map_err(|_| shown())?;
    let text = rel.to_string_lossy();
    if !text.is_empty() && matcher.matches(&text).is_ok_and(|d| d.excluded) && !meta.is_dir() {
        return Err(shown());
    }
    if !meta.is_dir() {
        return entry(&top, &meta, dest, link);
    }
    let entries = walk(root, matcher).map_err(|cause| MountError::Walk {
        root: root.to_path_buf(),
        cause,
    })?;
    let below: Vec<_> = entries
        .iter()
        .filter(|e| e.path.starts_with(rel) && e.path != rel)
        .collect();
    if !text.is_empty() && below.is_empty() && !entries.iter().any(|e| e.path == rel) {
        // An excluded directory with nothing kept below it is not sent.
        return Err(shown());
    }
    fs::create_dir_all(dest).map_err(io(dest.display()))?;
    owner_and_mode(dest, &meta)?;
    // Sorted bytewise: a directory comes before what it holds.
    for e in below {
        let src = root.join(&e.path);
        let target = dest.join(e.path.strip_prefix(rel).unwrap_or(&e.path));
        let m = fs::symlink_metadata(&src).map_err(io(src.display()))?;
        match e.kind {
            EntryKind::Dir => {
                fs::create_dir(&target).map_err(io(target.display()))?;
                owner_and_mode(&target, &m)?;
            }
            EntryKind::File | EntryKind::Symlink => entry(&src, &m, &target, link)?,
            EntryKind::Other => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_paths_are_left_out() {
        let ctx = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let c = ctx.path();
        fs::create_dir_all(c.join("src/secret")).unwrap();
        fs::write(c.join("src/main.rs"), "fn main() {}").unwrap();
        fs::write(c.join("src/secret/key"), "k").unwrap();
        fs::write(c.join("build.log"), "log").unwrap();
        let m = Matcher::parse(".dockerignore", "*.log\nsrc/secret\n").unwrap();
        let dest = out.path().join("all");
        context_tree(c, Path::new(""), &m, &dest, true).unwrap();
        assert!(dest.join("src/main.rs").is_file());
        assert!(!dest.join("build.log").exists());
        assert!(!dest.join("src/secret").exists());
        let sub = out.path().join("src");
        context_tree(c, Path::new("src"), &m, &sub, false).unwrap();
        assert_eq!(
            fs::read_to_string(sub.join("main.rs")).unwrap(),
            "fn main() {}"
        );
        assert!(!sub.join("secret").exists());
        let gone = out.path().join("gone");
        assert!(matches!(
            context_tree(c, Path::new("build.log"), &m, &gone, true),
            Err(MountError::NotFound(_))
        ));
        assert!(context_tree(c, Path::new("src/secret"), &m, &gone, true).is_err());
    }
}
