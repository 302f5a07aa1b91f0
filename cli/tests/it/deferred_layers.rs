//! A builder stage's layers are kept as snapshots, not even hashed until
//! an image holds them; an image's layers are hashed as they are made and
//! their tars made from the snapshots when an export, a save or a push
//! reads them, giving the bytes an eager build gives.

use std::fs;
use std::path::Path;

use crate::support::{kiln_with_busybox, ok, privileged, run_sh, Kiln};

/// A builder stage makes 6 MiB the final stage does not take (the same
/// bytes on every run, so two stores can compare their layers).
const DOCKERFILE: &str = "\
FROM busybox AS builder
RUN yes toolchain | head -c 6291456 > /toolchain && echo built > /out
FROM busybox
COPY --from=builder /out /out
";

const BIG: u64 = 6 << 20;

fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("Dockerfile"), DOCKERFILE).unwrap();
    dir
}

/// The store's blobs at least `BIG` bytes long.
fn big_blobs(root: &Path) -> usize {
    fs::read_dir(root.join("blobs/sha256"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().metadata().unwrap().len() >= BIG)
        .count()
}

fn build(k: &Kiln, dir: &Path, flags: &[&str]) -> String {
    let mut args = vec!["build", "--progress=plain"];
    args.extend(flags);
    args.push(dir.to_str().unwrap());
    ok(k, &args).trim().to_string()
}

#[test]
fn a_builder_stage_writes_no_tar_until_its_image_is_made() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = context();
    let dir = ctx.path();
    build(&k, dir, &["-t", "app"]);
    assert_eq!(big_blobs(k.root()), 0, "the builder's layer was written");
    assert_eq!(
        run_sh(&k, "app", "cat /out; ls /toolchain 2>&1 || true"),
        "built\nls: /toolchain: No such file or directory"
    );

    // Its image, from the cache: the tar is hashed, not written.
    let out = k
        .cmd([
            "build",
            "--progress=plain",
            "--target",
            "builder",
            "-t",
            "b",
        ])
        .arg(dir)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("CACHED"), "{log}");
    assert!(!log.contains("\nbuilt\n"), "it ran again: {log}");
    assert_eq!(big_blobs(k.root()), 0);
    let size = run_sh(&k, "b", "wc -c < /toolchain");
    assert_eq!(size, BIG.to_string());
    ok(&k, &["cache", "check"]);

    // A save streams the tar from the snapshot into the archive: the
    // layer is there, named by its diff_id, and the store writes none.
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("b.tar");
    ok(&k, &["save", "-o", archive.to_str().unwrap(), "b"]);
    assert_eq!(big_blobs(k.root()), 0);
    let unpacked = out.path().join("x");
    fs::create_dir(&unpacked).unwrap();
    let tar = std::process::Command::new("tar")
        .args(["-xf", archive.to_str().unwrap(), "-C"])
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(tar.success());
    let layers = layers(&k, "b");
    let saved = unpacked
        .join("blobs/sha256")
        .join(layers[1].trim_start_matches("sha256:"));
    assert!(fs::metadata(&saved).unwrap().len() >= BIG);
    assert_eq!(sha256_of(&saved), layers[1]);
}

fn sha256_of(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

/// The image's layer diff_ids.
fn layers(k: &Kiln, image: &str) -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_str(&ok(k, &["image", "inspect", image])).unwrap();
    let layers = doc[0]["RootFS"]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "busybox's layer and the RUN's");
    layers
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_deferred_layer_is_the_tar_an_eager_build_writes() {
    if !privileged() {
        return;
    }
    let epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1700000000"];
    let target = [&epoch[..], &["--target", "builder"]].concat();
    // Deferred: the whole file first, then its builder stage's image.
    let lazy = kiln_with_busybox();
    let ctx = context();
    build(&lazy, ctx.path(), &epoch);
    let from_deferred = build(&lazy, ctx.path(), &target);
    // Eager: in another store, the builder stage as the target at once.
    let eager = kiln_with_busybox();
    let from_eager = build(&eager, ctx.path(), &target);
    // The layers, not the image IDs: each store's busybox was imported
    // at its own time, which its history records.
    assert_eq!(layers(&lazy, &from_deferred), layers(&eager, &from_eager));
    ok(&lazy, &["cache", "check"]);
}

/// The one snapshot directory holding `name` at its top.
fn snapshot_with(root: &Path, name: &str) -> std::path::PathBuf {
    let found: Vec<_> = fs::read_dir(root.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path().join(name))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn an_image_layer_is_exported_from_its_snapshot_and_a_changed_one_is_refused() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let dockerfile = "FROM busybox\nRUN yes app | head -c 6291456 > /big\n";
    fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let out = tempfile::tempdir().unwrap();
    let oci = out.path().join("app.tar");
    let dest = format!("type=oci,dest={},compression=zstd", oci.display());
    build(&k, ctx.path(), &["-t", "app", "-o", &dest]);
    assert_eq!(big_blobs(k.root()), 0, "the build wrote the layer's tar");

    // The zstd layer, made from the snapshot, loads and runs elsewhere.
    let other = kiln_with_busybox();
    ok(&other, &["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(layers(&other, "app"), layers(&k, "app"));
    assert_eq!(run_sh(&other, "app", "wc -c < /big"), BIG.to_string());

    // Same length, other bytes: the tar no longer has the layer's
    // diff_id, and the save says so and leaves no archive.
    let big = snapshot_with(k.root(), "big");
    fs::write(&big, vec![b'x'; BIG as usize]).unwrap();
    let saved = out.path().join("saved.tar");
    let o = k
        .cmd(["save", "-o", saved.to_str().unwrap(), "app"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the save passed a changed layer");
    assert!(err.contains("changed on disk"), "{err}");
    assert!(!saved.exists(), "a half-written archive was left");

    // The build's own export of the (cached) image, likewise.
    let again = out.path().join("again.tar");
    let o = k
        .cmd(["build", "-q", "-t", "app", "-o"])
        .arg(format!("type=oci,dest={}", again.display()))
        .arg(ctx.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the export passed a changed layer");
    assert!(err.contains("changed on disk"), "{err}");
    assert!(!again.exists(), "a half-written archive was left");
    let left: Vec<_> = fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the first export's archive: {left:?}");
}
