//! Crash safety: kiln is SIGKILLed in the middle of `import`, `load`,
//! `cache prune` and the writing of a deferred layer — at named points
//! (KILN_TEST_CRASH_AT) and at timed instants on a big input — and
//! afterwards `kiln cache check` passes and the interrupted command works
//! when run again.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::cache::rootfs_tar;
use crate::support::Kiln;
use crate::support::{kiln_with_busybox, privileged, run_sh};

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("kiln runs")
}

fn ok(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn crash_at(kiln: &Kiln, point: &str, args: &[&str]) {
    let o = run(kiln.cmd(args).env("KILN_TEST_CRASH_AT", point));
    assert_eq!(
        o.status.signal(),
        Some(9),
        "{args:?} did not reach crash point {point}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `cache check` passes (it may clean a crashed process's tmp/ entries).
fn assert_healthy(kiln: &Kiln, after: &str) {
    let o = run(&mut kiln.cmd(["cache", "check"]));
    assert!(
        o.status.success(),
        "check failed after {after}:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("problem:"), "after {after}: {out}");
}

const IMPORT_POINTS: &[&str] = &[
    "meta-before-rename",
    "blob-before-rename",
    "blob-after-rename",
    "blob-before-rename#2",
    "blob-after-rename#3",
    "snapshot-before-commit",
    "snapshot-after-rename",
    "image-before-commit",
];

#[test]
fn import_killed_at_each_point_leaves_a_sound_store() {
    if !privileged() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let tar = rootfs_tar(src.path(), "img", &[7u8; 50_000]);
    let tar = tar.to_str().unwrap();
    for point in IMPORT_POINTS {
        let kiln = Kiln::new();
        crash_at(&kiln, point, &["import", tar, "app:1"]);
        assert_healthy(&kiln, point);
        ok(&mut kiln.cmd(["import", tar, "app:1"]));
        let images = ok(&mut kiln.cmd(["images", "-q"]));
        assert_eq!(images.lines().count(), 1, "after {point}");
        assert_healthy(&kiln, point);
        // Garbage the crash left is freed, and nothing the image needs.
        ok(&mut kiln.cmd(["cache", "prune", "-af"]));
        assert_healthy(&kiln, point);
        ok(&mut kiln.cmd(["image", "inspect", "app:1"]));
    }
}

#[test]
fn load_killed_at_each_point_leaves_a_sound_store() {
    if !privileged() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let tar = rootfs_tar(src.path(), "img", &[9u8; 50_000]);
    let maker = Kiln::new();
    ok(&mut maker.cmd(["import", tar.to_str().unwrap(), "app:1"]));
    let archive = src.path().join("app.tar");
    ok(&mut maker.cmd(["save", "-o", archive.to_str().unwrap(), "app:1"]));
    let archive = archive.to_str().unwrap();
    for point in IMPORT_POINTS {
        let kiln = Kiln::new();
        crash_at(&kiln, point, &["load", "-i", archive]);
        assert_healthy(&kiln, point);
        let out = ok(&mut kiln.cmd(["load", "-i", archive]));
        assert_eq!(out, "Loaded image: app:1\n", "after {point}");
        assert_healthy(&kiln, point);
    }
}

#[test]
fn prune_killed_at_each_point_leaves_a_sound_store() {
    if !privileged() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let tars: Vec<String> = (0..3u8)
        .map(|i| {
            let t = rootfs_tar(src.path(), &format!("img{i}"), &[i; 20_000]);
            t.to_str().unwrap().to_string()
        })
        .collect();
    for point in [
        "prune-after-records",
        "gc-after-meta",
        "gc-mid-trash",
        "gc-mid-trash#2",
        "gc-before-empty-trash",
    ] {
        let kiln = Kiln::new();
        for (i, t) in tars.iter().enumerate() {
            ok(&mut kiln.cmd(["import", t, &format!("app:{i}")]));
        }
        ok(&mut kiln.cmd(["rmi", "app:0", "app:1"]));
        crash_at(&kiln, point, &["cache", "prune", "-af"]);
        assert_healthy(&kiln, point);
        ok(&mut kiln.cmd(["cache", "prune", "-af"]));
        let ls = ok(&mut kiln.cmd(["cache", "ls", "-q"]));
        assert_eq!(
            ls.lines().count(),
            1,
            "only app:2's layer stays after {point}"
        );
        ok(&mut kiln.cmd(["image", "inspect", "app:2"]));
        assert_healthy(&kiln, point);
        let snapshots = fs::read_dir(kiln.root().join("snapshots")).unwrap().count();
        assert_eq!(snapshots, 1, "garbage of the crash freed after {point}");
    }
}

/// A 64 MiB incompressible rootfs, so the kill lands mid-stream.
#[test]
fn import_killed_at_timed_instants_leaves_a_sound_store() {
    if !privileged() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let mut data = vec![0u8; 64 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let tar = rootfs_tar(src.path(), "big", &data);
    drop(data);
    let tar = tar.to_str().unwrap();
    let kiln = Kiln::new();
    for ms in [30, 150, 400, 900, 1600] {
        let mut child = kiln
            .cmd(["import", tar, "big:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        assert!(status.success() || status.signal() == Some(9));
        assert_healthy(&kiln, &format!("a kill after {ms} ms"));
        if status.success() {
            ok(&mut kiln.cmd(["rmi", "big:1"]));
        }
    }
    ok(&mut kiln.cmd(["import", tar, "big:1"]));
    ok(&mut kiln.cmd(["cache", "prune", "-af"]));
    assert_healthy(&kiln, "the final import");
    let tmp = fs::read_dir(kiln.root().join("tmp")).unwrap().count();
    assert_eq!(tmp, 0, "prune cleaned every interrupted import's staging");
}

/// A builder stage's layer is deferred by the first build; the second
/// (`--target` it) writes its tar, and is killed on the way.
#[test]
fn a_deferred_layer_written_when_killed_leaves_a_sound_store() {
    if !privileged() {
        return;
    }
    let ctx = tempfile::tempdir().unwrap();
    let dockerfile = "FROM busybox AS tools\nRUN echo made > /tool\nFROM busybox\nCOPY --from=tools /tool /tool\n";
    fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let dir = ctx.path().to_str().unwrap();
    let target = ["build", "-q", "--target", "tools", "-t", "tools", dir];
    // The layer's tar is the first blob the second build writes.
    for point in [
        "blob-before-rename",
        "blob-after-rename",
        "layer-blob-before-record",
    ] {
        let kiln = kiln_with_busybox();
        ok(&mut kiln.cmd(["build", "-q", dir]));
        crash_at(&kiln, point, &target);
        assert_healthy(&kiln, point);
        ok(&mut kiln.cmd(target));
        assert_eq!(run_sh(&kiln, "tools", "cat /tool"), "made", "after {point}");
        assert_healthy(&kiln, point);
    }
}
