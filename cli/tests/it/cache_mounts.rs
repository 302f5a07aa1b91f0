//! `--cache-to …,cache-mounts=true` / `--cache-from …,cache-mounts=true`:
//! `RUN --mount=type=cache` contents travel with a local cache into a
//! fresh root, stay home without the option or over the size cap, and a
//! hostile cache cannot write outside the mount.

use std::path::Path;
use std::process::Output;

use kiln_cache::compression::{Compression, Encoder};
use kiln_cache::Digest;
use serde_json::{json, Value};

use super::support::{kiln_with_busybox, privileged, raw_tar_header, Kiln, Registry, TarMagic};

const MEDIA_TYPE: &str = "application/vnd.kiln.cachemount.v1.tar+zstd";

/// A RUN that says whether its cache mount was warm, then fills it with
/// `fill` bytes; `/owner` records the mount root's owner and mode.
fn context(fill: usize) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM busybox\n\
         RUN --mount=type=cache,id=x,target=/c,uid=1000,mode=0700 \
         sh -c 'if test -f /c/warm; then echo WARM; else echo COLD; fi > /seen; \
         stat -c \"%u %a\" /c > /owner; echo data > /c/warm; \
         head -c {fill} /dev/zero > /c/fill'\n"
    );
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    ctx
}

fn build(k: &Kiln, ctx: &Path, flags: &[&str]) -> Output {
    let out = k
        .cmd(["build", "--progress=plain", "-t", "out"])
        .args(flags)
        .arg(ctx)
        .output()
        .expect("kiln build");
    assert!(
        out.status.success(),
        "build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cat(k: &Kiln, path: &str) -> String {
    super::support::run_sh(k, "out", &format!("cat {path}"))
}

fn read_json(dir: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// The cache mount descriptors of the local cache in `dir`.
fn shipped_mounts(dir: &Path) -> Vec<Value> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest = read_json(dir, index["manifests"][0]["digest"].as_str().unwrap());
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["mediaType"] == MEDIA_TYPE)
        .cloned()
        .collect()
}

fn to(dir: &Path, extra: &str) -> String {
    format!("type=local,dest={}{extra}", dir.display())
}

fn from(dir: &Path, extra: &str) -> String {
    format!("type=local,src={}{extra}", dir.display())
}

#[test]
fn a_cache_mount_travels_to_a_fresh_root() {
    if !privileged() {
        return;
    }
    let ctx = context(1000);
    let cache = tempfile::tempdir().unwrap();
    let a = kiln_with_busybox();
    build(
        &a,
        ctx.path(),
        &["--cache-to", &to(cache.path(), ",cache-mounts=true")],
    );
    let mounts = shipped_mounts(cache.path());
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert_eq!(mounts[0]["annotations"]["org.kiln.cachemount.id"], "x");

    // --no-cache: the RUN itself must run, and finds the mount warm.
    let b = kiln_with_busybox();
    let src = from(cache.path(), ",cache-mounts=true");
    let out = build(&b, ctx.path(), &["--no-cache", "--cache-from", &src]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("importing cache mounts"), "{log}");
    assert!(log.contains(" x restored ("), "{log}");
    assert_eq!(cat(&b, "/seen"), "WARM");
    assert_eq!(cat(&b, "/owner"), "1000 700");

    // The restored mount is an ordinary cache mount: prune sees it.
    let pruned = b
        .cmd(["cache", "prune", "-f", "--filter", "type=cache-mount"])
        .output()
        .unwrap();
    assert!(pruned.status.success());
    build(&b, ctx.path(), &["--no-cache"]);
    assert_eq!(cat(&b, "/seen"), "COLD");
}

#[test]
fn a_cache_mount_travels_through_a_registry() {
    if !privileged() {
        return;
    }
    let reg = Registry::start(None);
    let cache_ref = format!("{}/app:buildcache", reg.addr);
    let ctx = context(1000);
    let a = kiln_with_busybox();
    let to = format!("type=registry,ref={cache_ref},cache-mounts=true");
    build(&a, ctx.path(), &["--cache-to", &to]);
    let b = kiln_with_busybox();
    let from = format!("type=registry,ref={cache_ref},cache-mounts=true");
    build(&b, ctx.path(), &["--no-cache", "--cache-from", &from]);
    assert_eq!(cat(&b, "/seen"), "WARM");
}

#[test]
fn without_the_option_no_cache_mount_goes_or_comes() {
    if !privileged() {
        return;
    }
    let ctx = context(1000);
    let (plain, with) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = kiln_with_busybox();
    let to_plain = to(plain.path(), "");
    let to_with = to(with.path(), ",cache-mounts=true");
    build(
        &a,
        ctx.path(),
        &["--cache-to", &to_plain, "--cache-to", &to_with],
    );
    assert!(shipped_mounts(plain.path()).is_empty());
    assert_eq!(shipped_mounts(with.path()).len(), 1);

    // A cache that carries the mount, read without cache-mounts=true.
    let b = kiln_with_busybox();
    build(
        &b,
        ctx.path(),
        &["--no-cache", "--cache-from", &from(with.path(), "")],
    );
    assert_eq!(cat(&b, "/seen"), "COLD");
}

#[test]
fn a_cache_mount_over_the_cap_is_skipped_with_a_warning() {
    if !privileged() {
        return;
    }
    let ctx = context(2 << 20);
    let cache = tempfile::tempdir().unwrap();
    let a = kiln_with_busybox();
    let dest = to(cache.path(), ",cache-mounts=true,cache-mounts-max=1m");
    let out = build(&a, ctx.path(), &["--cache-to", &dest]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("cache mount \"x\" is 2.097MB (cache-mounts-max 1.049MB): not exported"),
        "{log}"
    );
    assert!(shipped_mounts(cache.path()).is_empty());
}

const BLOCK: usize = 512;

/// A GNU tar header block written byte by byte, as an attacker would.
fn header(name: &str, kind: u8, link: &str, size: usize) -> [u8; BLOCK] {
    raw_tar_header(
        name.as_bytes(),
        kind,
        link.as_bytes(),
        size as u64,
        TarMagic::Gnu,
    )
}

/// A tar entry: name, type flag, link target, data.
type Entry<'a> = (&'a str, u8, &'a str, &'a [u8]);

/// A zstd tar of `entries`.
fn hostile_blob(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, kind, link, data) in entries {
        tar.extend_from_slice(&header(name, *kind, link, data.len()));
        tar.extend_from_slice(data);
        tar.resize(tar.len().next_multiple_of(BLOCK), 0);
    }
    tar.extend_from_slice(&[0; 2 * BLOCK]);
    let mut enc = Encoder::new(Vec::new(), Compression::Zstd, 1).unwrap();
    std::io::Write::write_all(&mut enc, &tar).unwrap();
    enc.finish().unwrap()
}

fn put_blob(dir: &Path, bytes: &[u8]) -> Value {
    let digest = Digest::of_bytes(bytes).to_string();
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::write(dir.join("blobs/sha256").join(hex), bytes).unwrap();
    json!({"digest": digest, "size": bytes.len()})
}

/// A local cache layout holding only cache mount `x` as `blob`.
fn layout_with(dir: &Path, blob: &[u8]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let b = put_blob(dir, blob);
    let config = json!({"version": 1, "records": [], "cacheMounts": [
        {"id": "x", "mediaType": MEDIA_TYPE, "digest": b["digest"], "size": b["size"]}]});
    let c = put_blob(dir, &serde_json::to_vec(&config).unwrap());
    let manifest = json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.kiln.cache.config.v1+json",
                   "digest": c["digest"], "size": c["size"]},
        "layers": [{"mediaType": MEDIA_TYPE, "digest": b["digest"], "size": b["size"],
                    "annotations": {"org.kiln.cachemount.id": "x"}}]});
    let m = put_blob(dir, &serde_json::to_vec(&manifest).unwrap());
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": m["digest"], "size": m["size"]}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

// A cache is input from elsewhere: a blob naming `../` paths or writing
// through an absolute symlink must not reach the host (CVE-2018-15664's class).
#[test]
fn cache_mount_blob_escaping_the_mount_is_refused() {
    if !privileged() {
        return;
    }
    let marker = format!("kiln-cache-mount-escape-{}", std::process::id());
    let host = Path::new("/tmp").join(&marker);
    let climb = format!("{}tmp/{marker}", "../".repeat(24));
    let through = format!("l/{marker}");
    let attacks: [(&[Entry<'_>], &str); 2] = [
        (&[(&climb, b'0', "", b"pwned")], "escapes the snapshot"),
        (
            &[("l", b'2', "/tmp", b""), (&through, b'0', "", b"pwned")],
            "would write through the symlink",
        ),
    ];
    let ctx = context(10);
    for (attack, refusal) in attacks {
        let cache = tempfile::tempdir().unwrap();
        layout_with(cache.path(), &hostile_blob(attack));
        let k = kiln_with_busybox();
        let src = from(cache.path(), ",cache-mounts=true");
        let out = build(&k, ctx.path(), &["--cache-from", &src]);
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("cache mount \"x\": layer entry"), "{log}");
        assert!(log.contains(refusal), "{log}");
        assert!(!host.exists(), "the cache wrote {}", host.display());
        assert_eq!(cat(&k, "/seen"), "COLD");
    }
}
