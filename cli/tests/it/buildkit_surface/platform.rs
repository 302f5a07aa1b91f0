//! `--platform`: another platform's RUN steps run through binfmt_misc
//! emulation (qemu-user-static) when it is registered, and are a clear
//! error when it is not. The arm64 busybox comes from Debian's archive,
//! at the mirror this machine's apt sources name (scripts/test.sh installs
//! qemu-user-static and registers qemu-aarch64).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{build, build_ok, kiln_with_busybox, privileged, run_sh, text};
use crate::support::Kiln;

/// The first Debian mirror in the apt sources (deb822 `URIs:` or a
/// one-line `deb URI …`), without a trailing slash.
fn debian_mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let name = f.to_string_lossy().to_string();
        if !(name.ends_with(".list") || name.ends_with(".sources")) {
            continue;
        }
        let body = std::fs::read_to_string(&f).unwrap_or_default();
        for line in body.lines().map(str::trim) {
            let uri = match line.strip_prefix("URIs:") {
                Some(rest) => rest.split_whitespace().next(),
                None => line
                    .strip_prefix("deb ")
                    .and_then(|r| r.split_whitespace().find(|w| w.contains("://"))),
            };
            if let Some(u) = uri.filter(|u| u.trim_end_matches('/').ends_with("/debian")) {
                return u.trim_end_matches('/').to_string();
            }
        }
    }
    panic!("no Debian mirror in /etc/apt/sources.list or sources.list.d");
}

fn fetch(url: &str, dest: &Path) {
    let ok = Command::new("curl")
        .args(["-fsSL", "--retry", "3", "-o"])
        .arg(dest)
        .arg(url)
        .status()
        .expect("curl")
        .success();
    assert!(ok, "downloading {url}");
}

/// Debian bookworm's arm64 busybox-static binary, in `dir`.
fn arm64_busybox(dir: &Path) -> PathBuf {
    let mirror = debian_mirror();
    let index = dir.join("Packages.xz");
    fetch(
        &format!("{mirror}/dists/bookworm/main/binary-arm64/Packages.xz"),
        &index,
    );
    let out = Command::new("xz")
        .arg("-dc")
        .arg(&index)
        .output()
        .expect("xz");
    assert!(out.status.success(), "xz -d Packages.xz");
    let packages = text(&out.stdout);
    let filename = packages
        .split("\n\n")
        .find(|p| p.lines().any(|l| l == "Package: busybox-static"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("Filename: ")))
        .expect("busybox-static in the arm64 Packages index")
        .to_string();
    let deb = dir.join("busybox-static.deb");
    fetch(&format!("{mirror}/{filename}"), &deb);
    let unpacked = dir.join("deb");
    let ok = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .status()
        .expect("dpkg-deb")
        .success();
    assert!(ok, "dpkg-deb -x {filename}");
    unpacked.join("bin/busybox")
}

#[test]
fn other_platform_without_emulation_names_what_to_install() {
    // s390x: qemu-user-static's postinst registers nothing here and the
    // suite registers only aarch64, so this platform has no emulator.
    if Path::new("/proc/sys/fs/binfmt_misc/qemu-s390x").exists() {
        panic!("qemu-s390x is registered: this test needs a platform without emulation");
    }
    let k = Kiln::new();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    let out = build(&k, dir.path(), &["--platform", "linux/s390x"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--platform linux/s390x") && stderr.contains("install qemu-user-static"),
        "{stderr}"
    );
}

#[test]
fn arm64_build_runs_under_emulation() {
    if !privileged() {
        return;
    }
    let entry = std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64")
        .expect("qemu-aarch64 binfmt_misc entry (scripts/test.sh registers it)");
    assert!(entry.starts_with("enabled"), "qemu-aarch64: {entry}");
    let work = tempfile::tempdir().expect("tempdir");
    let busybox = arm64_busybox(work.path());
    // The base: FROM scratch for linux/arm64, the arm64 busybox and its links.
    let base = work.path().join("base");
    std::fs::create_dir(&base).expect("mkdir");
    std::fs::copy(&busybox, base.join("busybox")).expect("copy busybox");
    std::fs::write(
        base.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .expect("write");
    let k = kiln_with_busybox();
    let arm = ["--platform", "linux/arm64"];
    build_ok(&k, &base, &[&arm[..], &["-t", "arm64-busybox"]].concat());
    let app = work.path().join("app");
    std::fs::create_dir(&app).expect("mkdir");
    std::fs::write(
        app.join("Dockerfile"),
        "FROM arm64-busybox\nARG TARGETPLATFORM TARGETARCH BUILDARCH\n\
         RUN uname -m > /machine && echo $TARGETPLATFORM $TARGETARCH $BUILDARCH > /args\n",
    )
    .expect("write");
    let (id, _) = build_ok(&k, &app, &arm);
    assert_eq!(run_sh(&k, &id, "cat /machine"), "aarch64");
    // BuildKit: TARGET* follow --platform, BUILD* stay the machine's.
    assert_eq!(run_sh(&k, &id, "cat /args"), "linux/arm64 arm64 amd64");
    let out = k.cmd(["image", "inspect", &id]).output().expect("inspect");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect json");
    assert_eq!(doc[0]["Architecture"], "arm64", "{doc}");

    // FROM --platform=$BUILDPLATFORM keeps a stage native while the final
    // stage is built for --platform, as cross-compiling Dockerfiles expect.
    let cross = work.path().join("cross");
    std::fs::create_dir(&cross).expect("mkdir");
    std::fs::write(
        cross.join("Dockerfile"),
        "FROM --platform=$BUILDPLATFORM busybox AS tools\n\
         RUN uname -m > /build-machine\n\
         FROM arm64-busybox\n\
         COPY --from=tools /build-machine /\n\
         RUN uname -m > /machine\n",
    )
    .expect("write");
    let (id, _) = build_ok(&k, &cross, &arm);
    assert_eq!(
        run_sh(&k, &id, "cat /build-machine /machine"),
        "x86_64\naarch64"
    );
    // A base made for another platform than the stage's is refused by name
    // (after a pull of the right one fails: nothing listens on port 1).
    let local = "127.0.0.1:1/busybox:latest";
    assert!(k
        .cmd(["tag", "busybox", local])
        .status()
        .expect("tag")
        .success());
    std::fs::write(
        cross.join("Dockerfile"),
        format!("FROM {local}\nRUN true\n"),
    )
    .expect("write");
    let out = build(&k, &cross, &arm);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Dockerfile:1")
            && stderr.contains("\"127.0.0.1:1/busybox:latest\" is for linux/amd64")
            && stderr.contains("built for linux/arm64"),
        "{stderr}"
    );
}
