//! Outputs and metadata: several `--output`s in one build, `--iidfile`,
//! `--metadata-file`, `--label`, `--annotation`, `--platform`; then
//! reproducible builds (SOURCE_DATE_EPOCH) and lint during builds.

use std::process::Command;

use super::{build, build_ok, case, kiln_with_busybox, privileged, text};
use crate::support::Kiln;

fn tar_list(path: &std::path::Path, flags: &[&str]) -> String {
    let out = Command::new("tar")
        .args(flags)
        .arg("-tvf")
        .arg(path)
        .output()
        .expect("tar");
    assert!(out.status.success(), "tar -t {}", path.display());
    text(&out.stdout)
}

fn untar_file(archive: &std::path::Path, member: &str) -> Vec<u8> {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg(member)
        .output()
        .expect("tar");
    assert!(out.status.success(), "{member} in {}", archive.display());
    out.stdout
}

#[test]
fn several_outputs_iidfile_metadata_labels_and_annotations() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let out = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| out.path().join(n).display().to_string();
    let flags = [
        "-t".to_string(),
        "outputs:1".into(),
        "--output".into(),
        format!("type=local,dest={}", p("local")),
        "--output".into(),
        format!("type=tar,dest={}", p("fs.tar")),
        "--output".into(),
        format!(
            "type=oci,dest={},compression=zstd,compression-level=3",
            p("oci.tar")
        ),
        "--output".into(),
        format!("type=docker,dest={}", p("docker.tar")),
        "--output".into(),
        format!(
            "type=oci,dest={},compression=uncompressed",
            p("oci-plain.tar")
        ),
        "--iidfile".into(),
        p("iid"),
        "--metadata-file".into(),
        p("meta.json"),
        "--label".into(),
        "org.example.team=build".into(),
        "--annotation".into(),
        "org.opencontainers.image.source=https://example.invalid/repo".into(),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (id, _) = build_ok(&k, &case("outputs"), &flags);
    // type=local: the final filesystem as files.
    let hello = std::fs::read_to_string(out.path().join("local/hello.txt")).expect("local");
    assert_eq!(hello, "hello-output\n");
    assert!(out.path().join("local/bin/sh").is_file());
    // type=tar: the same filesystem in one tar.
    let listing = tar_list(&out.path().join("fs.tar"), &[]);
    assert!(
        listing.contains(" hello.txt\n") && listing.contains(" bin/sh\n"),
        "{listing}"
    );
    // --iidfile and --metadata-file.
    assert_eq!(
        std::fs::read_to_string(out.path().join("iid")).expect("iid"),
        id
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("meta.json")).expect("meta"))
            .expect("meta json");
    assert_eq!(meta["containerimage.config.digest"], id);
    assert_eq!(meta["image.name"], "docker.io/library/outputs:1");
    let manifest_digest = meta["containerimage.digest"].as_str().expect("digest");
    assert_eq!(meta["containerimage.descriptor"]["digest"], manifest_digest);
    // type=oci as built: the manifest the metadata names, with the annotation.
    let plain = out.path().join("oci-plain.tar");
    let blob = format!(
        "blobs/sha256/{}",
        manifest_digest.trim_start_matches("sha256:")
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&untar_file(&plain, &blob)).expect("manifest");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"],
        "https://example.invalid/repo"
    );
    // type=oci with zstd layers (a re-encoded manifest).
    let oci = out.path().join("oci.tar");
    let index: serde_json::Value =
        serde_json::from_slice(&untar_file(&oci, "index.json")).expect("index");
    let in_archive = index["manifests"][0]["digest"].as_str().expect("digest");
    let blob = format!("blobs/sha256/{}", in_archive.trim_start_matches("sha256:"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&untar_file(&oci, &blob)).expect("manifest");
    let media = manifest["layers"][0]["mediaType"].as_str().unwrap_or("");
    assert!(media.ends_with("+zstd"), "layer media type {media}");
    // type=docker: a `docker load` archive of the same image.
    let docker: serde_json::Value =
        serde_json::from_slice(&untar_file(&out.path().join("docker.tar"), "manifest.json"))
            .expect("manifest.json");
    assert_eq!(docker[0]["RepoTags"][0], "outputs:1");
    // --label reached the image config.
    let inspect = k.cmd(["image", "inspect", &id]).output().expect("inspect");
    let doc: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("inspect json");
    assert_eq!(doc[0]["Config"]["Labels"]["org.example.team"], "build");
}

#[test]
fn another_platform_is_a_clear_error_without_emulation() {
    let k = Kiln::new();
    let foreign = if std::env::consts::ARCH == "x86_64" {
        "linux/arm64"
    } else {
        "linux/amd64"
    };
    let out = build(&k, &case("outputs"), &["--platform", foreign]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("--platform {foreign}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("binfmt_misc") || stderr.contains("emulation is registered"),
        "{stderr}"
    );
}

/// Root A's busybox, moved to a fresh root B by save and load.
fn second_root_with_same_base(a: &Kiln) -> Kiln {
    let b = Kiln::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = dir.path().join("busybox.tar");
    let saved = a
        .cmd(["save", "-o"])
        .arg(&tar)
        .arg("busybox")
        .output()
        .expect("save");
    assert!(saved.status.success(), "save: {}", text(&saved.stderr));
    let loaded = b.cmd(["load", "-i"]).arg(&tar).output().expect("load");
    assert!(loaded.status.success(), "load: {}", text(&loaded.stderr));
    b
}

#[test]
fn source_date_epoch_gives_the_same_image_on_two_roots() {
    if !privileged() {
        return;
    }
    let a = kiln_with_busybox();
    let b = second_root_with_same_base(&a);
    let dir = case("reproducible");
    let (id_a, _) = build_ok(&a, &dir, &["--build-arg", "SOURCE_DATE_EPOCH=1700000000"]);
    let out = b
        .cmd(["build", "--progress=plain"])
        .arg(&dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("build");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("not consumed"));
    assert_eq!(text(&out.stdout).trim(), id_a);
    // Without it, times are the build's own: the IDs differ.
    let (plain, _) = build_ok(&b, &dir, &["--no-cache"]);
    assert_ne!(plain, id_a);
    // Every new file's mtime and the history are clamped.
    let inspect = a
        .cmd(["image", "inspect", &id_a])
        .output()
        .expect("inspect");
    let doc: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    assert_eq!(doc[0]["Created"], "2023-11-14T22:13:20Z");
    let run = a
        .cmd([
            "run",
            "--rm",
            &id_a,
            "sh",
            "-c",
            "stat -c %Y /built /made/dir/file /made/dir /a.txt",
        ])
        .output()
        .expect("run");
    let times: Vec<String> = text(&run.stdout).lines().map(str::to_string).collect();
    assert_eq!(times, vec!["1700000000"; 4]);
}

#[test]
fn check_lints_and_stops_and_builds_print_warnings_at_the_end() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let dir = case("lint-warnings");
    let out = build(&k, &dir, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Dockerfile:3:") && stdout.contains("[FromAsCasing]"),
        "{stdout}"
    );
    assert!(stdout.contains("[JSONArgsRecommended]"), "{stdout}");
    assert!(
        !text(&out.stderr).contains("RUN echo hi"),
        "--check must not build"
    );
    let images = k.cmd(["images", "-q"]).output().expect("images");
    assert_eq!(text(&images.stdout).lines().count(), 1, "only busybox");
    let (_, stderr) = build_ok(&k, &dir, &[]);
    let tail = stderr.rsplit("DONE").next().unwrap_or("");
    assert!(tail.contains("2 warnings found"), "{stderr}");
    assert!(tail.contains("[FromAsCasing]"), "{stderr}");
}
