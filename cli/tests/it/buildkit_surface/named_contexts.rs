//! `--build-context NAME=docker-image://REF|oci-layout://PATH` used by
//! FROM, COPY --from and RUN --mount from.

use std::process::Command;

use super::{build_ok, case, kiln_with_busybox, privileged, run_sh};

#[test]
fn image_and_oci_layout_contexts_replace_names() {
    if !privileged() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(
        src.join("Dockerfile"),
        "FROM busybox\nRUN echo marker > /etc/marker\n",
    )
    .expect("write");
    let a = kiln_with_busybox();
    let archive = tmp.path().join("layout.tar");
    let out = format!("type=oci,dest={}", archive.display());
    build_ok(&a, &src, &["-o", &out]);
    let layout = tmp.path().join("layout");
    std::fs::create_dir(&layout).expect("mkdir");
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .status()
        .expect("tar")
        .success();
    assert!(ok, "untar the layout");
    // A fresh root: `other` exists only in the layout, `base` is busybox.
    let b = kiln_with_busybox();
    let other = format!("other=oci-layout://{}", layout.display());
    let flags = [
        "--build-context",
        "base=docker-image://busybox",
        "--build-context",
        &other,
    ];
    let (id, _) = build_ok(&b, &case("build-context"), &flags);
    assert_eq!(run_sh(&b, &id, "cat /copied /mounted"), "marker\nmarker");
}
