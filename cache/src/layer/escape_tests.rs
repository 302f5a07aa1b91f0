//! Crafted layer tars that try to write outside the snapshot. Each test
//! names the escape it guards; a sandbox holds the target and an `outside`
//! directory that must come out of every apply unchanged.

use std::fs;
use std::path::{Path, PathBuf};

use super::testkit::{dir, file, hardlink, privileged, raw_tar, symlink, Raw};
use super::{apply, ApplyError};

struct Sandbox {
    _tmp: tempfile::TempDir,
    outside: PathBuf,
    target: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("file"), b"host data").unwrap();
        let target = tmp.path().join("target");
        Sandbox {
            outside,
            target,
            _tmp: tmp,
        }
    }

    fn apply(&self, entries: &[Raw<'_>]) -> Result<super::Applied, ApplyError> {
        apply(&raw_tar(entries)[..], &self.target)
    }

    /// `outside` holds exactly its one file, unchanged.
    fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["file"], "something was written outside");
        assert_eq!(fs::read(self.outside.join("file")).unwrap(), b"host data");
    }

    fn outside_str(&self, rest: &str) -> String {
        format!("{}{rest}", self.outside.display())
    }
}

fn assert_discarded(target: &Path) {
    assert!(!target.exists(), "a failed apply left {target:?} behind");
}

// `../` climbs out of the target: refused, and nothing of the layer stays.
#[test]
fn apply_parent_dir_escape() {
    if !privileged("apply_parent_dir_escape") {
        return;
    }
    let sb = Sandbox::new();
    let err = sb
        .apply(&[file("ok", b"1"), file("../outside/evil", b"x")])
        .unwrap_err();
    assert!(matches!(err, ApplyError::Escape(_)), "{err:?}");
    assert_discarded(&sb.target);
    sb.assert_outside_untouched();
}

// An absolute name is taken relative to the target, as Docker does.
#[test]
fn apply_absolute_path_stays_inside() {
    if !privileged("apply_absolute_path_stays_inside") {
        return;
    }
    let sb = Sandbox::new();
    let name = sb.outside_str("/evil");
    sb.apply(&[file(&name, b"x")]).unwrap();
    let inside = sb.target.join(name.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"x");
    sb.assert_outside_untouched();
}

// A symlink to outside, then a file below it: refused, not followed.
#[test]
fn apply_symlink_escape() {
    if !privileged("apply_symlink_escape") {
        return;
    }
    for link_target in ["../outside", "/never-used-by-kiln"] {
        let sb = Sandbox::new();
        let link = if link_target.starts_with('/') {
            sb.outside_str("")
        } else {
            link_target.to_string()
        };
        let err = sb
            .apply(&[symlink("link", &link), file("link/evil", b"x")])
            .unwrap_err();
        assert!(matches!(err, ApplyError::ThroughSymlink { .. }), "{err:?}");
        assert_discarded(&sb.target);
        sb.assert_outside_untouched();
    }
}

// A symlink pointing at a host file, then a regular file of the same name:
// the link is replaced, the host file is not written through it.
#[test]
fn apply_symlink_overwrite_replaces_link() {
    if !privileged("apply_symlink_overwrite_replaces_link") {
        return;
    }
    let sb = Sandbox::new();
    let host_file = sb.outside_str("/file");
    sb.apply(&[symlink("f", &host_file), file("f", b"layer data")])
        .unwrap();
    let meta = fs::symlink_metadata(sb.target.join("f")).unwrap();
    assert!(meta.is_file());
    assert_eq!(fs::read(sb.target.join("f")).unwrap(), b"layer data");
    sb.assert_outside_untouched();
}

// A directory replaced by a symlink to outside, then a file below the old
// directory name: the cached "this is a directory" must not be trusted.
#[test]
fn apply_dir_then_symlink_escape() {
    if !privileged("apply_dir_then_symlink_escape") {
        return;
    }
    let sb = Sandbox::new();
    let outside = sb.outside_str("");
    let err = sb
        .apply(&[
            dir("d/"),
            file("d/a", b"1"),
            symlink("d", &outside),
            file("d/evil", b"x"),
        ])
        .unwrap_err();
    assert!(matches!(err, ApplyError::ThroughSymlink { .. }), "{err:?}");
    sb.assert_outside_untouched();
}

// Hard links may only point at files already inside the layer.
#[test]
fn apply_hardlink_escape() {
    if !privileged("apply_hardlink_escape") {
        return;
    }
    let sb = Sandbox::new();
    let absolute = sb.outside_str("/file");
    let cases: Vec<Vec<Raw<'_>>> = vec![
        vec![hardlink("h", "../outside/file")],
        // Absolute is relative to the target, where no such file exists.
        vec![hardlink("h", &absolute)],
        vec![hardlink("h", "missing")],
        vec![symlink("l", "../outside"), hardlink("h", "l/file")],
        vec![dir("d/"), hardlink("h", "d")],
    ];
    for entries in cases {
        let err = sb.apply(&entries).unwrap_err();
        assert!(matches!(err, ApplyError::BadLink { .. }), "{err:?}");
        assert_discarded(&sb.target);
        sb.assert_outside_untouched();
    }
}

// A hard link to a file of the layer works and shares the inode.
#[test]
fn apply_hardlink_inside_shares_inode() {
    if !privileged("apply_hardlink_inside_shares_inode") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let sb = Sandbox::new();
    sb.apply(&[file("a", b"data"), hardlink("b", "a")]).unwrap();
    let a = fs::metadata(sb.target.join("a")).unwrap();
    let b = fs::metadata(sb.target.join("b")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
}

// A whiteout name with `..` is still a path escape.
#[test]
fn apply_whiteout_escape() {
    if !privileged("apply_whiteout_escape") {
        return;
    }
    let sb = Sandbox::new();
    let err = sb.apply(&[file("../outside/.wh.file", b"")]).unwrap_err();
    assert!(matches!(err, ApplyError::Escape(_)), "{err:?}");
    sb.assert_outside_untouched();
}

// A tar cut in the middle of a file's data is malformed, and the partial
// snapshot is gone.
#[test]
fn apply_truncated_archive_is_discarded() {
    if !privileged("apply_truncated_archive_is_discarded") {
        return;
    }
    let sb = Sandbox::new();
    let data = vec![7u8; 4000];
    let tar = raw_tar(&[file("a", b"1"), file("big", &data)]);
    let err = apply(&tar[..1800], &sb.target).unwrap_err();
    assert!(matches!(err, ApplyError::Malformed(_)), "{err:?}");
    assert_discarded(&sb.target);
}

// A header with a wrong checksum is malformed.
#[test]
fn apply_bad_checksum_is_malformed() {
    if !privileged("apply_bad_checksum_is_malformed") {
        return;
    }
    let sb = Sandbox::new();
    let mut tar = raw_tar(&[file("a", b"1")]);
    tar[0] = b'b';
    let err = apply(&tar[..], &sb.target).unwrap_err();
    assert!(matches!(err, ApplyError::Malformed(_)), "{err:?}");
    assert_discarded(&sb.target);
}

// The target must be fresh: applying over a filled directory could mix two
// layers. An empty one (a store staging dir) is fine.
#[test]
fn apply_refuses_non_empty_target() {
    if !privileged("apply_refuses_non_empty_target") {
        return;
    }
    let sb = Sandbox::new();
    fs::create_dir(&sb.target).unwrap();
    sb.apply(&[file("a", b"1")]).unwrap();
    let err = sb.apply(&[file("a", b"1")]).unwrap_err();
    assert!(matches!(err, ApplyError::TargetExists(_)), "{err:?}");
    assert!(
        sb.target.join("a").exists(),
        "an existing target must not be removed"
    );
}
