//! diff and apply together: determinism across machines, and what a
//! directory looks like after diff → tar → apply.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use filetime::FileTime;

use super::testkit::privileged;
use super::{apply, diff, whiteout, xattr, DiffOptions, LayerDigests};
use crate::compression::Compression;

/// A capability set granting cap_net_bind_service (what setcap writes).
const CAP_NET_BIND: &[u8] = &[
    0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

fn write(dir: &Path, rel: &str, data: &[u8], mode: u32) {
    let path = dir.join(rel);
    fs::write(&path, data).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

type Step = Box<dyn Fn(&Path)>;

/// The same tree, built in the given order, every mtime set to `mtime`.
fn build_tree(dir: &Path, reversed: bool, mtime: i64) {
    let mut steps: Vec<Step> = vec![
        Box::new(|d| fs::create_dir_all(d.join("usr/bin")).unwrap()),
        Box::new(|d| fs::create_dir_all(d.join("etc")).unwrap()),
        Box::new(|d| fs::create_dir_all(d.join("a.b")).unwrap()),
        Box::new(|d| fs::create_dir_all(d.join("a/b")).unwrap()),
    ];
    if reversed {
        steps.reverse();
    }
    for step in &steps {
        step(dir);
    }
    let mut files = vec![
        ("etc/passwd", &b"root:x:0:0::/root:/bin/sh\n"[..], 0o644),
        ("usr/bin/tool", &b"#!/bin/sh\necho hi\n"[..], 0o4755),
        ("a/b/c", &b"c"[..], 0o600),
        ("a.b/x", &b""[..], 0o640),
    ];
    if reversed {
        files.reverse();
    }
    for (rel, data, mode) in files {
        write(dir, rel, data, mode);
    }
    symlink("../etc/passwd", dir.join("usr/passwd-link")).unwrap();
    fs::hard_link(dir.join("usr/bin/tool"), dir.join("usr/bin/tool2")).unwrap();
    let long = "d".repeat(120);
    fs::create_dir_all(dir.join(&long)).unwrap();
    write(dir, &format!("{long}/{}", "f".repeat(90)), b"long", 0o644);
    touch_all(dir, mtime);
}

fn touch_all(dir: &Path, mtime: i64) {
    let t = FileTime::from_unix_time(mtime, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p.clone());
            }
            filetime::set_symlink_file_times(&p, t, t).unwrap();
        }
    }
}

fn layer(dir: &Path, compression: Compression, epoch: Option<i64>) -> (Vec<u8>, LayerDigests) {
    let opts = DiffOptions {
        source_date_epoch: epoch,
        compression,
        threads: 2,
    };
    diff(dir, Vec::new(), &opts).unwrap()
}

// Two machines building the same files in another order at another time
// must produce the same layer digest once mtimes are clamped.
#[test]
fn diff_is_deterministic_across_order_and_mtime() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    build_tree(one.path(), false, 1_800_000_000);
    build_tree(two.path(), true, 1_900_000_000);
    let epoch = Some(1_600_000_000);
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let (bytes_one, a) = layer(one.path(), compression, epoch);
        let (bytes_two, b) = layer(two.path(), compression, epoch);
        assert_eq!(a, b, "{compression}");
        assert_eq!(bytes_one, bytes_two);
        assert_eq!(a.size, bytes_one.len() as u64);
    }
    // Without clamping, the mtimes differ and so do the digests.
    let (_, a) = layer(one.path(), Compression::None, None);
    let (_, b) = layer(two.path(), Compression::None, None);
    assert_ne!(a.diff_id, b.diff_id);
}

// Compression changes the blob digest but never the diff_id.
#[test]
fn diff_id_is_the_uncompressed_digest() {
    let dir = tempfile::tempdir().unwrap();
    build_tree(dir.path(), false, 1_700_000_000);
    let (plain, none) = layer(dir.path(), Compression::None, None);
    let (_, gz) = layer(dir.path(), Compression::Gzip, None);
    let (_, zst) = layer(dir.path(), Compression::Zstd, None);
    assert_eq!(none.digest, none.diff_id);
    assert_eq!(crate::digest::Digest::of_bytes(&plain), none.diff_id);
    assert_eq!((gz.diff_id, zst.diff_id), (none.diff_id, none.diff_id));
    assert_ne!(gz.digest, zst.digest);
}

// GNU tar reads what diff writes: sorted names, numeric owners, long names
// through PAX, the hard link as a link.
#[test]
fn diff_output_reads_with_gnu_tar() {
    let dir = tempfile::tempdir().unwrap();
    build_tree(dir.path(), false, 1_700_000_000);
    let (bytes, _) = layer(dir.path(), Compression::None, None);
    let tar_file = tempfile::NamedTempFile::new().unwrap();
    fs::write(tar_file.path(), &bytes).unwrap();
    let out = Command::new("tar")
        .arg("-tvf")
        .arg(tar_file.path())
        .arg("--numeric-owner")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().nth(5).unwrap().trim_end_matches('/'))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"a.b") && names.contains(&"usr/bin/tool2"));
    assert!(listing.contains(&format!("{}/{}", "d".repeat(120), "f".repeat(90))));
    assert!(listing.contains("usr/bin/tool2 link to usr/bin/tool"));
    assert!(listing.contains("-rwsr-xr-x 0/0"), "{listing}");
}

// Overlay whiteouts in an upper dir become OCI whiteouts, and applying the
// layer turns them back into overlay whiteouts.
#[test]
fn whiteouts_roundtrip_between_overlay_and_oci() {
    if !privileged("whiteouts_roundtrip_between_overlay_and_oci") {
        return;
    }
    let upper = tempfile::tempdir().unwrap();
    fs::create_dir(upper.path().join("etc")).unwrap();
    whiteout::make_overlay_whiteout(&upper.path().join("etc/shadow")).unwrap();
    fs::create_dir(upper.path().join("var")).unwrap();
    whiteout::set_opaque(&upper.path().join("var")).unwrap();
    write(upper.path(), "var/new", b"n", 0o644);
    let (bytes, _) = layer(upper.path(), Compression::None, None);
    let names = tar_names(&bytes);
    assert_eq!(
        names,
        [
            "etc/",
            "etc/.wh.shadow",
            "var/",
            "var/.wh..wh..opq",
            "var/new"
        ]
    );

    let out = tempfile::tempdir().unwrap();
    let snap = out.path().join("snap");
    apply(&bytes[..], &snap).unwrap();
    let shadow = fs::symlink_metadata(snap.join("etc/shadow")).unwrap();
    assert!(whiteout::is_overlay_whiteout(&shadow));
    assert!(whiteout::is_opaque(&snap.join("var")).unwrap());
    assert!(!snap.join("var/.wh..wh..opq").exists());
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect()
}

// diff → apply keeps modes (setuid too), owners, mtimes, xattrs
// (security.capability), symlinks, hard links, devices and fifos.
#[test]
fn diff_then_apply_keeps_metadata() {
    if !privileged("diff_then_apply_keeps_metadata") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    build_tree(src.path(), false, 1_700_000_000);
    let tool = src.path().join("usr/bin/tool");
    nix::unistd::chown(&tool, Some(1000.into()), Some(1001.into())).unwrap();
    fs::set_permissions(&tool, fs::Permissions::from_mode(0o4755)).unwrap();
    xattr::set(&tool, OsStr::new("security.capability"), CAP_NET_BIND).unwrap();
    xattr::set(&tool, OsStr::new("trusted.overlay.origin"), b"x").unwrap();
    nix::unistd::mkfifo(
        &src.path().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let null = src.path().join("null");
    nix::sys::stat::mknod(
        &null,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    touch_all(src.path(), 1_700_000_000);

    let (bytes, digests) = layer(src.path(), Compression::Zstd, None);
    let out = tempfile::tempdir().unwrap();
    let snap = out.path().join("snap");
    let applied = apply(&bytes[..], &snap).unwrap();
    assert_eq!(applied.diff_id, digests.diff_id);

    let got = fs::symlink_metadata(snap.join("usr/bin/tool")).unwrap();
    assert_eq!(
        (got.mode() & 0o7777, got.uid(), got.gid()),
        (0o4755, 1000, 1001)
    );
    assert_eq!(got.mtime(), 1_700_000_000);
    assert_eq!(got.nlink(), 2);
    let cap = xattr::get(
        &snap.join("usr/bin/tool"),
        OsStr::new("security.capability"),
    )
    .unwrap();
    assert_eq!(cap.as_deref(), Some(CAP_NET_BIND));
    let origin = xattr::get(
        &snap.join("usr/bin/tool"),
        OsStr::new("trusted.overlay.origin"),
    )
    .unwrap();
    assert_eq!(origin, None, "overlay xattrs must not travel");
    assert_eq!(
        fs::read_link(snap.join("usr/passwd-link")).unwrap(),
        Path::new("../etc/passwd")
    );
    assert_eq!(
        fs::metadata(snap.join("usr")).unwrap().mtime(),
        1_700_000_000
    );
    let dev = fs::symlink_metadata(snap.join("null")).unwrap();
    assert_eq!((libc::major(dev.rdev()), libc::minor(dev.rdev())), (1, 3));
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(snap.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());

    // And the applied snapshot writes back to the very same layer.
    let (again, digests_again) = layer(&snap, Compression::Zstd, None);
    assert_eq!(digests_again.diff_id, digests.diff_id);
    assert_eq!(again, bytes);
}

/// The layer writer's measure of a tree is `measure_tree`'s, for every kind
/// of entry a snapshot holds (a snapshot recorded with one is checked by
/// `cache check` with the other), and measuring changes no tar byte.
#[test]
fn diff_measures_a_tree_as_measure_tree_does() {
    if !privileged("diff_measures_a_tree_as_measure_tree_does") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    build_tree(d, false, 1_600_000_000);
    write(d, "big", &vec![7u8; 300 << 10], 0o644);
    fs::hard_link(d.join("big"), d.join("big-link")).unwrap();
    whiteout::make_overlay_whiteout(&d.join("etc/shadow")).unwrap();
    xattr::set(&d.join("etc/shadow"), OsStr::new("trusted.note"), b"w").unwrap();
    fs::create_dir(d.join("var")).unwrap();
    whiteout::set_opaque(&d.join("var")).unwrap();
    write(d, "var/new", b"n", 0o644);
    nix::unistd::mkfifo(
        &d.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    xattr::set(&d.join("etc/passwd"), OsStr::new("user.note"), b"kept").unwrap();
    symlink("dangling", d.join("a/b/dead")).unwrap();

    let (plain, plain_digests) = diff(d, Vec::new(), &DiffOptions::default()).unwrap();
    let (bytes, digests, measured) =
        super::diff_measured(d, Vec::new(), &DiffOptions::default()).unwrap();
    assert_eq!(measured, crate::tree_measure::measure_tree(d).unwrap());
    assert_eq!((bytes, digests.clone()), (plain, plain_digests));
    // Hashed on a thread of its own, the tar going nowhere: the same.
    let (aside, measured_aside) = super::diff_measured_aside(d, &DiffOptions::default()).unwrap();
    assert_eq!((aside, measured_aside), (digests, measured.clone()));
    // The measure covers what the layer does not carry: the socket.
    fs::remove_file(d.join("sock")).unwrap();
    assert_ne!(measured, crate::tree_measure::measure_tree(d).unwrap());
}
