//! Other tools read what kiln writes, and kiln reads what they write:
//! skopeo (containers/image) and umoci (opencontainers' own unpacker),
//! both from Debian (testdata/apt-packages.txt). Only local files: no
//! registry, no network.

use std::fs;
use std::process::Command;

use crate::image::{import_busybox, run_ok, stdout};
use crate::support::privileged;
use crate::support::Kiln;

fn skopeo_json(args: &[&str]) -> serde_json::Value {
    let out = run_ok(Command::new("skopeo").args(args));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kiln_inspect(kiln: &Kiln, name: &str) -> serde_json::Value {
    let out = run_ok(&mut kiln.cmd(["image", "inspect", name]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

/// `kiln images --digests` DIGEST column of the row named `repo tag`.
fn manifest_digest(kiln: &Kiln, repo: &str, tag: &str) -> String {
    let table = stdout(&run_ok(&mut kiln.cmd(["images", "--digests"])));
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|c| c[0] == repo && c[1] == tag)
        .map(|c| c[2].to_string())
        .unwrap_or_else(|| panic!("{repo}:{tag} not in\n{table}"))
}

// skopeo inspects and copies a `kiln save` docker archive, and the copy
// loads back into kiln as the same image.
#[test]
fn skopeo_reads_and_copies_docker_archive() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let id = import_busybox(&kiln, tmp.path(), "busybox:kiln");
    let saved = tmp.path().join("saved.tar");
    run_ok(kiln.cmd(["save", "-o"]).arg(&saved).arg("busybox:kiln"));
    let src = format!("docker-archive:{}", saved.display());
    let info = skopeo_json(&["inspect", &src]);
    let layers = kiln_inspect(&kiln, "busybox:kiln")["RootFS"]["Layers"].clone();
    assert_eq!(info["Layers"], layers);
    let config = skopeo_json(&["inspect", "--config", &src]);
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]));

    let copied = tmp.path().join("copied.tar");
    let dest = format!("docker-archive:{}:busybox:copied", copied.display());
    run_ok(Command::new("skopeo").args(["copy", &src, &dest]));
    let other = Kiln::new();
    let out = stdout(&run_ok(other.cmd(["load", "-i"]).arg(&copied)));
    assert_eq!(out, "Loaded image: busybox:copied\n");
    assert_eq!(kiln_inspect(&other, "busybox:copied")["Id"], id);
}

// skopeo inspects and copies a `kiln save --format oci` archive; a copy
// with --preserve-digests loads back with the same manifest digest and
// image ID, and a default copy (which gzips the layers) with the same ID.
#[test]
fn skopeo_reads_and_copies_oci_archive() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let id = import_busybox(&kiln, tmp.path(), "busybox:kiln");
    let digest = manifest_digest(&kiln, "busybox", "kiln");
    let saved = tmp.path().join("saved-oci.tar");
    run_ok(
        kiln.cmd(["save", "--format", "oci", "-o"])
            .arg(&saved)
            .arg("busybox:kiln"),
    );
    let src = format!("oci-archive:{}:kiln", saved.display());
    let info = skopeo_json(&["inspect", &src]);
    assert_eq!(info["Digest"], digest);

    for (flags, same_manifest) in [(vec!["--preserve-digests"], true), (vec![], false)] {
        let copied = tmp.path().join(format!("copied-{same_manifest}.tar"));
        let dest = format!("oci-archive:{}:busybox:copied", copied.display());
        run_ok(
            Command::new("skopeo")
                .arg("copy")
                .args(&flags)
                .args([&src, &dest]),
        );
        let other = Kiln::new();
        let out = stdout(&run_ok(other.cmd(["load", "-i"]).arg(&copied)));
        assert_eq!(out, "Loaded image: busybox:copied\n");
        assert_eq!(kiln_inspect(&other, "busybox:copied")["Id"], id);
        let loaded_digest = manifest_digest(&other, "busybox", "copied");
        assert_eq!(loaded_digest == digest, same_manifest, "{flags:?}");
    }
}

// umoci unpacks kiln's OCI layout into the rootfs the image was made from.
#[test]
fn umoci_unpacks_oci_save() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    import_busybox(&kiln, tmp.path(), "busybox:kiln");
    let saved = tmp.path().join("saved-oci.tar");
    run_ok(
        kiln.cmd(["save", "--format", "oci", "-o"])
            .arg(&saved)
            .arg("busybox:kiln"),
    );
    let layout = tmp.path().join("layout");
    fs::create_dir(&layout).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-xf")
            .arg(&saved),
    );
    let bundle = tmp.path().join("bundle");
    run_ok(
        Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:kiln", layout.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/motd")).unwrap(),
        "hello from kiln\n"
    );
    assert_eq!(
        fs::read_link(rootfs.join("bin/sh")).unwrap(),
        std::path::Path::new("busybox")
    );
    assert_eq!(
        fs::read(rootfs.join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], serde_json::json!(["sh"]));
}
