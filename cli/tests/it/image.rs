//! Image commands end to end: import, images, tag, rmi, inspect, history,
//! save, load. The base image is a busybox rootfs made here from Debian's
//! busybox-static (testdata/apt-packages.txt).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{privileged, raw_tar_header, Kiln, TarMagic};

/// A busybox rootfs tar (`bin/busybox`, applet symlinks, `etc/motd`),
/// compressed with `compress` (e.g. `gzip`) when given.
pub fn busybox_tar(dir: &Path, compress: Option<&str>) -> PathBuf {
    let root = dir.join("rootfs");
    if !root.exists() {
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::copy("/bin/busybox", root.join("bin/busybox"))
            .expect("/bin/busybox (Debian's busybox-static) is installed");
        for applet in ["sh", "ls", "cat", "echo", "true"] {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        fs::write(root.join("etc/motd"), "hello from kiln\n").unwrap();
    }
    let plain = dir.join("rootfs.tar");
    if !plain.exists() {
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(&root)
                .arg("-cf")
                .arg(&plain)
                .arg("."),
        );
    }
    let Some(tool) = compress else {
        return plain;
    };
    let out = dir.join(format!("rootfs.tar.{tool}"));
    let data = run_ok(Command::new(tool).arg("-c").arg(&plain)).stdout;
    fs::write(&out, data).unwrap();
    out
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kiln import` of the busybox tar as `name`; returns the printed ID.
pub fn import_busybox(kiln: &Kiln, dir: &Path, name: &str) -> String {
    let tar = busybox_tar(dir, None);
    let out = run_ok(
        kiln.cmd(["import", "--change", r#"CMD ["sh"]"#])
            .arg(&tar)
            .arg(name),
    );
    stdout(&out).trim().to_string()
}

fn inspect(kiln: &Kiln, name: &str) -> serde_json::Value {
    let out = run_ok(&mut kiln.cmd(["image", "inspect", name]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

#[test]
fn import_lists_in_images() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let id = import_busybox(&kiln, tmp.path(), "busybox:test");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let table = stdout(&run_ok(&mut kiln.cmd(["images"])));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY   TAG "), "{table}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&cells[..3], &["busybox", "test", &id[7..19]]);
    let quiet = stdout(&run_ok(&mut kiln.cmd(["images", "-q"])));
    assert_eq!(quiet.trim(), &id[7..19]);
    let json = stdout(&run_ok(&mut kiln.cmd(["images", "--format", "json"])));
    let row: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(
        (row["Repository"].as_str(), row["Tag"].as_str()),
        (Some("busybox"), Some("test"))
    );
    let digests = stdout(&run_ok(&mut kiln.cmd(["images", "--digests"])));
    assert!(digests.lines().next().unwrap().contains("DIGEST"));
}

#[test]
fn a_reader_that_left_ends_the_listing_quietly() {
    // `kiln images | head -0`: the pipe's reader is gone before kiln
    // writes. A shell sees 141 (killed by SIGPIPE), and no error is shown.
    let kiln = Kiln::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = kiln.cmd(["images"]).stdout(writer).output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

// The same rootfs gives the same layer however it was compressed, as with
// `docker import` (the diff_id is the digest of the uncompressed tar).
#[test]
fn import_reads_every_compression() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let mut layers = Vec::new();
    for (tool, tag) in [
        (None, "plain"),
        (Some("gzip"), "gz"),
        (Some("zstd"), "zst"),
        (Some("xz"), "xz"),
        (Some("bzip2"), "bz2"),
    ] {
        let tar = busybox_tar(tmp.path(), tool);
        run_ok(kiln.cmd(["import"]).arg(&tar).arg(format!("bb:{tag}")));
        layers.push(inspect(&kiln, &format!("bb:{tag}"))["RootFS"]["Layers"].clone());
    }
    assert!(layers.windows(2).all(|w| w[0] == w[1]), "{layers:?}");
    let plain = fs::read(busybox_tar(tmp.path(), None)).unwrap();
    let expected = format!("sha256:{}", sha256_hex(&plain));
    assert_eq!(layers[0][0], expected);
}

fn sha256_hex(bytes: &[u8]) -> String {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    fs::write(tmp.path(), bytes).unwrap();
    let out = run_ok(Command::new("sha256sum").arg(tmp.path()));
    stdout(&out).split_whitespace().next().unwrap().to_string()
}

#[test]
fn import_from_stdin_applies_changes() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_tar(tmp.path(), Some("gzip"));
    let out = kiln
        .cmd([
            "import",
            "-c",
            "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
            "-c",
            "ENV GREETING=\"hello world\"",
            "-c",
            "EXPOSE 8080",
            "-c",
            "WORKDIR /srv",
            "-c",
            "LABEL org.example=yes",
            "-",
            "app:1",
        ])
        .stdin(fs::File::open(&tar).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = inspect(&kiln, "app:1");
    let c = &v["Config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Env"], serde_json::json!(["GREETING=hello world"]));
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["Labels"]["org.example"], "yes");
    assert_eq!(v["RepoTags"], serde_json::json!(["app:1"]));
    assert_eq!(v["Comment"], "Imported from -");
}

#[test]
fn import_refuses_build_only_changes() {
    let kiln = Kiln::new();
    let out = kiln
        .cmd(["import", "-c", "RUN true", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUN is not a valid change command"));
}

#[test]
fn history_shows_the_import() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let id = import_busybox(&kiln, tmp.path(), "bb");
    let out = stdout(&run_ok(&mut kiln.cmd(["history", "bb"])));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("IMAGE          CREATED"), "{out}");
    assert!(lines[0].contains("CREATED BY") && lines[0].ends_with("COMMENT"));
    assert!(lines[1].starts_with(&id[7..19]));
    assert!(lines[1].contains("MB"), "{out}");
    assert!(lines[1].contains("Imported from"), "{out}");
}

#[test]
fn tag_and_rmi_follow_docker() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let id = import_busybox(&kiln, tmp.path(), "bb:1");
    run_ok(&mut kiln.cmd(["tag", "bb:1", "example.com/team/bb:2"]));
    let table = stdout(&run_ok(&mut kiln.cmd(["images"])));
    assert!(table.contains("example.com/team/bb   2"), "{table}");
    // An ID with two names needs -f.
    let out = kiln.cmd(["rmi", &id[7..19]]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be forced"));
    // A name only untags while another name remains.
    let out = stdout(&run_ok(&mut kiln.cmd(["rmi", "example.com/team/bb:2"])));
    assert_eq!(out, "Untagged: example.com/team/bb:2\n");
    let out = stdout(&run_ok(&mut kiln.cmd(["rmi", "bb:1"])));
    assert_eq!(out, format!("Untagged: bb:1\nDeleted: {id}\n"));
    let table = stdout(&run_ok(&mut kiln.cmd(["images", "-q"])));
    assert_eq!(table, "");
    let out = kiln.cmd(["rmi", "bb:1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

fn roundtrip(format: &str, compress: Option<&str>) {
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let id = import_busybox(&kiln, tmp.path(), "bb:rt");
    let archive = tmp.path().join("out.tar");
    run_ok(
        kiln.cmd(["save", "--format", format, "-o"])
            .arg(&archive)
            .arg("bb:rt"),
    );
    let archive = match compress {
        Some(tool) => {
            let data = run_ok(Command::new(tool).arg("-c").arg(&archive)).stdout;
            let p = tmp.path().join("out.tar.z");
            fs::write(&p, data).unwrap();
            p
        }
        None => archive,
    };
    let other = Kiln::new();
    let out = stdout(&run_ok(other.cmd(["load", "-i"]).arg(&archive)));
    assert_eq!(out, "Loaded image: bb:rt\n");
    let v = inspect(&other, "bb:rt");
    assert_eq!(v["Id"], id);
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["sh"]));
}

#[test]
fn save_load_roundtrip_docker() {
    if privileged() {
        roundtrip("docker", None);
    }
}

#[test]
fn save_load_roundtrip_oci_gzipped() {
    if privileged() {
        roundtrip("oci", Some("gzip"));
    }
}

#[test]
fn save_load_roundtrip_docker_zstd() {
    if privileged() {
        roundtrip("docker", Some("zstd"));
    }
}

/// Builds an archive from `members` (path, bytes) with GNU tar.
fn archive_of(dir: &Path, members: &[(&str, Vec<u8>)]) -> PathBuf {
    let src = dir.join("members");
    for (path, bytes) in members {
        let p = src.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    let out = dir.join("bad.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&src)
            .arg("-cf")
            .arg(&out)
            .arg("."),
    );
    out
}

/// No image, no snapshot, no staging left behind.
fn assert_store_untouched(kiln: &Kiln) {
    assert_eq!(stdout(&run_ok(&mut kiln.cmd(["images", "-q"]))), "");
    for dir in ["snapshots", "tmp"] {
        let p = kiln.root().join(dir);
        let n = fs::read_dir(&p).map(|d| d.count()).unwrap_or(0);
        assert_eq!(n, 0, "{} has leftovers", p.display());
    }
}

// A layer whose entry climbs out with `../` fails the load and leaves the
// store as it was.
#[test]
fn load_rejects_escaping_layer() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let mut layer = Vec::new();
    {
        let mut h = tar_header(b"../escaped", b"x".len());
        layer.append(&mut h);
        layer.extend_from_slice(b"x");
        layer.resize(1024 + 1024, 0);
    }
    let diff_id = format!("sha256:{}", sha256_hex(&layer));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let manifest = r#"[{"Config":"config.json","RepoTags":["evil:1"],"Layers":["layer.tar"]}]"#;
    let archive = archive_of(
        tmp.path(),
        &[
            ("config.json", config.into_bytes()),
            ("layer.tar", layer),
            ("manifest.json", manifest.into()),
        ],
    );
    let out = kiln.cmd(["load", "-i"]).arg(&archive).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("escapes the snapshot"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!tmp.path().join("escaped").exists());
    assert_store_untouched(&kiln);
}

// A blob whose bytes do not match its name is refused.
#[test]
fn load_rejects_wrong_blob_digest() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tmp = tempfile::tempdir().unwrap();
    let name = format!("blobs/sha256/{}", "0".repeat(64));
    let archive = archive_of(
        tmp.path(),
        &[
            (name.as_str(), b"not that".to_vec()),
            (
                "index.json",
                br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
            ),
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ],
    );
    let out = kiln.cmd(["load", "-i"]).arg(&archive).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match its digest"));
    assert_store_untouched(&kiln);
}

#[test]
fn load_rejects_non_archives() {
    let kiln = Kiln::new();
    let out = kiln
        .cmd(["load"])
        .stdin(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither manifest.json nor index.json"));
}

/// A ustar header for a regular file with a raw name (GNU tar refuses to
/// write `../` names).
fn tar_header(name: &[u8], size: usize) -> Vec<u8> {
    raw_tar_header(name, b'0', b"", size as u64, TarMagic::Ustar).to_vec()
}
