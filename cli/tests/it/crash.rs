//! Crash safety: kiln is SIGKILLed in the middle of `import`, `load`,
//! `cache prune` and the writing of a built layer's blob — at named points
//! (KILN_TEST_CRASH_AT) and at timed instants on a big input — and
//! afterwards `kiln cache check` passes and the interrupted command works
//! when run again.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::cache::rootfs_tar;
use crate::image::run_ok;
use crate::registry::kiln_cmd;
use crate::support::Kiln;
use crate::support::{kiln_with_busybox, privileged, run_sh, Registry};

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
    crash_at_cmd(kiln.cmd(args), point);
}

fn crash_at_cmd(mut cmd: Command, point: &str) {
    let o = run(cmd.env("KILN_TEST_CRASH_AT", point));
    assert_eq!(
        o.status.signal(),
        Some(9),
        "{cmd:?} did not reach crash point {point}: {}",
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

/// A built layer's blob is written the first time something needs a file
/// of it (a push); a kill while it is written leaves a sound store and
/// the push works when run again.
#[test]
fn a_layer_blob_written_when_killed_leaves_a_sound_store() {
    if !privileged() {
        return;
    }
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    // The RUN's tar is the only blob the push writes (busybox's is there);
    // each point's layer is its own, which the registry does not have.
    for point in [
        "blob-before-rename",
        "blob-after-rename",
        "layer-blob-before-record",
    ] {
        let ctx = tempfile::tempdir().unwrap();
        let dockerfile = format!("FROM busybox AS tools\nRUN echo made > /tool && echo {point} > /point\nFROM busybox\nCOPY --from=tools /tool /tool\n");
        fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
        let dir = ctx.path().to_str().unwrap();
        let kiln = kiln_with_busybox();
        let name = format!("{}/tools:{}", reg.addr, point.replace('-', ""));
        ok(&mut kiln.cmd(["build", "-q", "--target", "tools", "-t", &name, dir]));
        crash_at_cmd(kiln_cmd(&kiln, cfg.path(), &["push", &name]), point);
        assert_healthy(&kiln, point);
        run_ok(&mut kiln_cmd(&kiln, cfg.path(), &["push", &name]));
        assert_eq!(run_sh(&kiln, &name, "cat /tool"), "made", "after {point}");
        assert_healthy(&kiln, point);
    }
}

/// A build killed as a step's snapshot is committed (flushed, not yet
/// renamed; renamed, not yet recorded) leaves a sound store, and builds.
#[test]
fn a_build_killed_as_a_step_commits_leaves_a_sound_store() {
    if !privileged() {
        return;
    }
    let ctx = tempfile::tempdir().unwrap();
    let dockerfile = "FROM busybox\nRUN echo made > /made\n";
    fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let dir = ctx.path().to_str().unwrap();
    for point in ["snapshot-before-commit", "snapshot-after-rename"] {
        let kiln = kiln_with_busybox();
        crash_at(&kiln, point, &["build", "-q", "-t", "app", dir]);
        assert_healthy(&kiln, point);
        ok(&mut kiln.cmd(["build", "-q", "-t", "app", dir]));
        assert_eq!(run_sh(&kiln, "app", "cat /made"), "made", "after {point}");
        assert_healthy(&kiln, point);
    }
}
