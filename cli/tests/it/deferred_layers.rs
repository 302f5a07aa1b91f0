//! A builder stage's layers are kept as snapshots; their tars are written
//! only when an image, an export or a cache export needs them, and then
//! give the bytes an eager build gives.

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

    // Its image, from the cache: the tar is written now, once.
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
    assert_eq!(big_blobs(k.root()), 1);
    let size = run_sh(&k, "b", "wc -c < /toolchain");
    assert_eq!(size, BIG.to_string());
    ok(&k, &["cache", "check"]);
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
