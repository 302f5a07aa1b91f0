//! A fully cached rebuild gives back the image it rebuilt, with the same ID,
//! as Docker's builders do. Without SOURCE_DATE_EPOCH the only part of the
//! config that would change is the creation time, so the time first used for
//! a final cache key is kept beside the build logs and reused for as long as
//! every step stays cached.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn path(root: &Path, final_key: &str) -> Option<PathBuf> {
    // Keys are blake3 hex; anything else never becomes a file name.
    let hex = !final_key.is_empty() && final_key.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| root.join("builds").join("created").join(final_key))
}

/// The creation time an earlier build of `final_key` used, if one did.
pub fn remembered(root: &Path, final_key: &str) -> Option<String> {
    let text = fs::read_to_string(path(root, final_key)?).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Keeps `created` for `final_key` unless a time is already kept. Losing it
/// only costs a new image ID on the next rebuild, so errors are ignored.
pub fn remember(root: &Path, final_key: &str, created: &str) {
    let Some(dest) = path(root, final_key) else {
        return;
    };
    if dest.exists() {
        return;
    }
    let Some(dir) = dest.parent() else { return };
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".{final_key}.{}", std::process::id()));
    let written = fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(created.as_bytes())?;
        f.sync_all()
    });
    if written.is_err() || fs::rename(&tmp, &dest).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_time_is_kept() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(remembered(root.path(), "ab12"), None);
        remember(root.path(), "ab12", "2026-01-01T00:00:00Z");
        remember(root.path(), "ab12", "2027-01-01T00:00:00Z");
        assert_eq!(
            remembered(root.path(), "ab12").as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn non_hex_keys_are_refused() {
        let root = tempfile::tempdir().unwrap();
        remember(root.path(), "../x", "t");
        assert_eq!(remembered(root.path(), "../x"), None);
        assert!(!root.path().join("builds").exists());
    }
}
