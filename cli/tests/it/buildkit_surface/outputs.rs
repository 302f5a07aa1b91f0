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

fn json_member(archive: &std::path::Path, member: &str) -> serde_json::Value {
    serde_json::from_slice(&untar_file(archive, member)).expect("json member")
}

/// index.json of an OCI archive, and the manifest its first entry names.
fn index_and_manifest(archive: &std::path::Path) -> (serde_json::Value, serde_json::Value) {
    let index = json_member(archive, "index.json");
    let digest = index["manifests"][0]["digest"].as_str().expect("digest");
    let blob = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    (index.clone(), json_member(archive, &blob))
}

fn layer_bytes(manifest: &serde_json::Value) -> u64 {
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["size"].as_u64().unwrap_or(0))
        .sum()
}

fn media_types(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn archives_default_to_gzip_honour_levels_and_keep_annotations() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let out = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| out.path().join(n);
    let spec = |n: &str, rest: &str| format!("type=oci,dest={}{rest}", p(n).display());
    let docker = format!("type=docker,dest={}", p("docker.tar").display());
    let flags = [
        "-t".to_string(),
        "outputs:2".into(),
        "--annotation".into(),
        "org.example.m=m".into(),
        "--annotation".into(),
        "index:org.example.i=i".into(),
        "--annotation".into(),
        "manifest-descriptor:org.example.d=d".into(),
        "-o".into(),
        spec("default.tar", ""),
        "-o".into(),
        docker,
        "-o".into(),
        spec(
            "z0.tar",
            ",compression=zstd,compression-level=0,annotation.org.example.out=o",
        ),
        "-o".into(),
        spec("z19.tar", ",compression=zstd,compression-level=19"),
        "-o".into(),
        spec("g1.tar", ",compression=gzip,compression-level=1"),
        "-o".into(),
        spec("g9.tar", ",compression=gzip,compression-level=9"),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (id, _) = build_ok(&k, &case("outputs"), &flags);
    // No compression= is gzip, as with BuildKit, and every annotation lands.
    let (index, manifest) = index_and_manifest(&p("default.tar"));
    assert!(
        media_types(&manifest)
            .iter()
            .all(|m| m.ends_with("tar+gzip")),
        "{manifest}"
    );
    assert_eq!(manifest["annotations"]["org.example.m"], "m");
    assert_eq!(index["annotations"]["org.example.i"], "i");
    assert_eq!(index["manifests"][0]["annotations"]["org.example.d"], "d");
    let layer = manifest["layers"][0]["digest"].as_str().expect("digest");
    let blob = untar_file(
        &p("default.tar"),
        &format!("blobs/sha256/{}", layer.trim_start_matches("sha256:")),
    );
    assert_eq!(&blob[..2], &[0x1f, 0x8b], "a gzip layer");
    // Compressed outputs keep them too, with the output's own added.
    let (_, z0) = index_and_manifest(&p("z0.tar"));
    let (_, z19) = index_and_manifest(&p("z19.tar"));
    assert!(
        media_types(&z0).iter().all(|m| m.ends_with("+zstd")),
        "{z0}"
    );
    assert_eq!(z0["annotations"]["org.example.m"], "m");
    assert_eq!(z0["annotations"]["org.example.out"], "o");
    assert!(z19["annotations"].get("org.example.out").is_none());
    // compression-level changes the layers.
    assert!(layer_bytes(&z19) < layer_bytes(&z0), "{z19} {z0}");
    let (_, g1) = index_and_manifest(&p("g1.tar"));
    let (_, g9) = index_and_manifest(&p("g9.tar"));
    assert!(layer_bytes(&g9) < layer_bytes(&g1), "{g9} {g1}");
    // type=docker: gzip layers that load back as the same image.
    let docker = json_member(&p("docker.tar"), "manifest.json");
    let first = docker[0]["Layers"][0].as_str().expect("layer path");
    assert_eq!(&untar_file(&p("docker.tar"), first)[..2], &[0x1f, 0x8b]);
    for archive in ["docker.tar", "default.tar", "z19.tar"] {
        let fresh = Kiln::new();
        let loaded = fresh
            .cmd(["load", "-i"])
            .arg(p(archive))
            .output()
            .expect("load");
        assert!(
            loaded.status.success(),
            "load {archive}: {}",
            text(&loaded.stderr)
        );
        let inspect = fresh
            .cmd(["image", "inspect", "outputs:2"])
            .output()
            .expect("inspect");
        let doc: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
        assert_eq!(doc[0]["Id"], id, "{archive}");
    }
}

#[test]
fn compression_levels_out_of_range_are_refused() {
    let k = Kiln::new();
    let dest = tempfile::tempdir().expect("tempdir");
    for (spec, want) in [
        (
            "compression=zstd,compression-level=23",
            "zstd takes 0 to 22",
        ),
        ("compression=gzip,compression-level=10", "gzip takes 0 to 9"),
    ] {
        let o = format!("type=oci,dest={}/x.tar,{spec}", dest.path().display());
        let out = build(&k, &case("outputs"), &["-o", &o]);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    }
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

#[test]
fn local_and_tar_outputs_keep_the_images_modification_times() {
    let k = Kiln::new();
    let ctx = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(ctx.path().join("d")).expect("mkdir");
    std::fs::write(ctx.path().join("d/f"), "f\n").expect("write");
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY d /d\n").expect("write");
    let touched = Command::new("touch")
        .args(["-d", "2024-05-01 10:00:00 UTC"])
        .arg(ctx.path().join("d/f"))
        .arg(ctx.path().join("d"))
        .status()
        .expect("touch");
    assert!(touched.success());
    let out = tempfile::tempdir().expect("tempdir");
    let local = out.path().join("local");
    let tar = out.path().join("fs.tar");
    build_ok(
        &k,
        ctx.path(),
        &[
            "--output",
            &format!("type=local,dest={}", local.display()),
            "--output",
            &format!("type=tar,dest={}", tar.display()),
        ],
    );
    // BuildKit writes the files as the image holds them, times included.
    let may_2024 = 1_714_557_600;
    for path in [local.join("d/f"), local.join("d")] {
        let meta = std::fs::metadata(&path).expect("local output");
        let mtime = std::os::unix::fs::MetadataExt::mtime(&meta);
        assert_eq!(mtime, may_2024, "{}", path.display());
    }
    let listing = tar_list(&tar, &["--full-time", "--utc"]);
    assert!(listing.contains("2024-05-01 10:00:00 d/f\n"), "{listing}");
}
