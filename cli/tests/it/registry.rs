//! `kiln pull`, `push`, `login`, `logout` against a real registry: Debian's
//! docker-registry on 127.0.0.1 (testdata/scripts/registry.sh), seeded with
//! a busybox image kiln imports and pushes. Never the internet: every
//! kiln here runs with HTTPS_PROXY pointing at a closed local port, so a
//! request that tried to leave the machine would fail instead.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::image::{run_ok, stdout};
use super::support::{testdata, Kiln, Registry};

/// `kiln` with a private Docker config dir and no way to the internet.
pub(super) fn kiln_cmd(kiln: &Kiln, docker_config: &Path, args: &[&str]) -> Command {
    let mut cmd = kiln.cmd(args);
    cmd.env("DOCKER_CONFIG", docker_config)
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("KILN_CONFIG");
    cmd
}

pub(super) fn kiln_ok(kiln: &Kiln, docker_config: &Path, args: &[&str]) -> Output {
    run_ok(&mut kiln_cmd(kiln, docker_config, args))
}

fn kiln_fails(kiln: &Kiln, docker_config: &Path, args: &[&str]) -> String {
    let out = kiln_cmd(kiln, docker_config, args).output().unwrap();
    assert!(
        !out.status.success(),
        "{args:?} succeeded: {}",
        stdout(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A busybox rootfs tar from testdata/scripts/make-busybox-rootfs.sh.
fn busybox_tar(dir: &Path) -> PathBuf {
    let root = dir.join("bb-rootfs");
    run_ok(
        Command::new("sh")
            .arg(testdata().join("scripts/make-busybox-rootfs.sh"))
            .arg(&root),
    );
    let tar = dir.join("bb.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    tar
}

/// Imports busybox as `name` (with extra `--change`s) into `kiln`'s store
/// and pushes it; returns (image ID, manifest digest).
fn seed(kiln: &Kiln, cfg: &Path, name: &str, changes: &[&str]) -> (String, String) {
    let tar = busybox_tar(kiln.root());
    let mut args = vec!["import", "--change", r#"CMD ["sh"]"#];
    for c in changes {
        args.extend(["--change", c]);
    }
    let tar_arg = tar.to_str().unwrap();
    args.extend([tar_arg, name]);
    let id = stdout(&kiln_ok(kiln, cfg, &args)).trim().to_string();
    let out = kiln_ok(kiln, cfg, &["push", name]);
    (id, pushed_digest(&stdout(&out)))
}

/// The digest from `latest: digest: sha256:… size: N`.
fn pushed_digest(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {out:?}"))
        .to_string()
}

fn image_ids(kiln: &Kiln, cfg: &Path) -> Vec<String> {
    let out = kiln_ok(kiln, cfg, &["images", "-q", "--no-trunc"]);
    stdout(&out).lines().map(str::to_string).collect()
}

fn cache_check_passes(kiln: &Kiln, cfg: &Path) {
    kiln_ok(kiln, cfg, &["cache", "check"]);
}

fn skopeo_digest(reference: &str) -> String {
    let out = run_ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

#[test]
fn push_then_pull_by_tag_and_by_digest_into_empty_stores() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let a = Kiln::new();
    let name = format!("{}/busybox:1.0", reg.addr);
    let (id, digest) = seed(&a, cfg.path(), &name, &[]);
    assert_eq!(skopeo_digest(&name), digest, "skopeo sees what kiln pushed");

    let b = Kiln::new();
    let out = kiln_ok(&b, cfg.path(), &["pull", &name]);
    let text = stdout(&out);
    assert!(text.contains(&format!("Digest: {digest}")), "{text}");
    assert!(text.contains("Status: Downloaded newer image"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Pull complete"));
    assert_eq!(image_ids(&b, cfg.path()), std::slice::from_ref(&id));
    cache_check_passes(&b, cfg.path());
    let again = stdout(&kiln_ok(&b, cfg.path(), &["pull", &name]));
    assert!(again.contains("Status: Image is up to date"), "{again}");

    let c = Kiln::new();
    let by_digest = format!("{}/busybox@{digest}", reg.addr);
    let text = stdout(&kiln_ok(&c, cfg.path(), &["pull", &by_digest]));
    assert!(text.contains(&digest), "{text}");
    assert_eq!(image_ids(&c, cfg.path()), [id]);
}

#[test]
fn pull_of_a_missing_image_says_so() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let err = kiln_fails(
        &Kiln::new(),
        cfg.path(),
        &["pull", &format!("{}/nothing", reg.addr)],
    );
    assert!(
        err.contains("manifest for") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn second_push_mounts_across_repositories_and_chunked_uploads_roundtrip() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let a = Kiln::new();
    let first = format!("{}/team-a/busybox:latest", reg.addr);
    let (id, _) = seed(&a, cfg.path(), &first, &[]);
    let second = format!("{}/team-b/busybox:latest", reg.addr);
    kiln_ok(&a, cfg.path(), &["tag", &first, &second]);
    let out = kiln_ok(&a, cfg.path(), &["push", &second]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Mounted from team-a/busybox"), "{err}");
    let again = kiln_ok(&a, cfg.path(), &["push", &second]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("Layer already exists"));

    // 64 KiB chunks: the ~2 MB layer goes up in many PATCH requests.
    let third = format!("{}/chunked/busybox:latest", reg.addr);
    kiln_ok(&a, cfg.path(), &["tag", &first, &third]);
    let fresh = Kiln::new();
    let import_tar = busybox_tar(fresh.root());
    kiln_ok(
        &fresh,
        cfg.path(),
        &[
            "import",
            "--change",
            r#"CMD ["sh"]"#,
            import_tar.to_str().unwrap(),
            &third,
        ],
    );
    let out = kiln_ok(
        &fresh,
        cfg.path(),
        &["push", "--chunk-size", "65536", &third],
    );
    let digest = pushed_digest(&stdout(&out));
    assert_eq!(skopeo_digest(&third), digest);
    let b = Kiln::new();
    kiln_ok(&b, cfg.path(), &["pull", &third]);
    let pulled = image_ids(&b, cfg.path());
    assert_eq!(pulled, image_ids(&fresh, cfg.path()));
    assert_ne!(pulled, [id], "a separate import has its own creation time");
}

/// `uname -m` as an OCI architecture, and one that is not it.
fn host_and_other_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "s390x"),
        "aarch64" => ("arm64", "s390x"),
        other => panic!("no OCI name for {other} in this test"),
    }
}

/// PUT over plain HTTP/1.1 (the registry is loopback, unauthenticated).
fn http_put(addr: &str, path: &str, content_type: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

#[test]
fn index_resolves_to_the_host_platform_or_the_one_asked_for() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let a = Kiln::new();
    let (host_id, host_digest) = seed(&a, cfg.path(), &format!("{}/multi:host", reg.addr), &[]);
    let (other_id, other_digest) = seed(
        &a,
        cfg.path(),
        &format!("{}/multi:other", reg.addr),
        &["LABEL which=other"],
    );
    let size = |d: &str| {
        let path = a
            .root()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"));
        fs::metadata(path).unwrap().len()
    };
    let (host_arch, other_arch) = host_and_other_arch();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": other_digest,
             "size": size(&other_digest), "platform": {"os": "linux", "architecture": other_arch}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": host_digest,
             "size": size(&host_digest), "platform": {"os": "linux", "architecture": host_arch}},
        ]
    });
    let body = serde_json::to_vec(&index).unwrap();
    let resp = http_put(
        &reg.addr,
        "/v2/multi/manifests/latest",
        "application/vnd.oci.image.index.v1+json",
        &body,
    );
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let name = format!("{}/multi:latest", reg.addr);

    let b = Kiln::new();
    let text = stdout(&kiln_ok(&b, cfg.path(), &["pull", &name]));
    let index_digest = format!("sha256:{}", sha256_hex(&body));
    assert!(text.contains(&format!("Digest: {index_digest}")), "{text}");
    assert_eq!(image_ids(&b, cfg.path()), [host_id]);

    let c = Kiln::new();
    let platform = format!("linux/{other_arch}");
    kiln_ok(&c, cfg.path(), &["pull", "--platform", &platform, &name]);
    assert_eq!(image_ids(&c, cfg.path()), [other_id]);

    let err = kiln_fails(
        &Kiln::new(),
        cfg.path(),
        &["pull", "--platform", "windows/amd64", &name],
    );
    assert!(
        err.contains("no matching manifest for windows/amd64"),
        "{err}"
    );
    assert!(err.contains(&format!("linux/{host_arch}")), "{err}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    stdout(&out).split_whitespace().next().unwrap().to_string()
}

#[test]
fn docker_hub_names_pull_through_a_configured_mirror() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let a = Kiln::new();
    let (id, _) = seed(
        &a,
        cfg.path(),
        &format!("{}/library/busybox:latest", reg.addr),
        &[],
    );
    let config = cfg.path().join("config.toml");
    fs::write(
        &config,
        format!(
            "[registry.\"docker.io\"]\nmirrors = [\"{}\"]\n[registry.\"{}\"]\nhttp = true\n",
            reg.addr, reg.addr
        ),
    )
    .unwrap();
    let b = Kiln::new();
    let out = kiln_ok(
        &b,
        cfg.path(),
        &["--config", config.to_str().unwrap(), "pull", "busybox"],
    );
    let text = stdout(&out);
    assert!(
        text.contains("Status: Downloaded newer image for busybox:latest"),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("docker.io/library/busybox:latest"),
        "{text}"
    );
    let images = stdout(&kiln_ok(&b, cfg.path(), &["images"]));
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("busybox ") && l.contains(&id[7..19])),
        "{images}"
    );
}

#[test]
fn login_checks_the_password_and_stores_docker_credentials() {
    let reg = Registry::start(Some(("kiln", "s3cret")));
    let cfg = tempfile::tempdir().unwrap();
    let a = Kiln::new();
    let login = |password: &str| {
        let mut cmd = kiln_cmd(
            &a,
            cfg.path(),
            &["login", "-u", "kiln", "--password-stdin", &reg.addr],
        );
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let wrong = login("nope");
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains(&format!(
            "login to {} failed: wrong username or password",
            reg.addr
        )),
        "{err}"
    );
    assert!(
        !cfg.path().join("config.json").exists(),
        "nothing stored after a refused login"
    );

    // Anonymous pushes are refused by name.
    let tar = busybox_tar(a.root());
    let name = format!("{}/private/busybox:latest", reg.addr);
    kiln_ok(&a, cfg.path(), &["import", tar.to_str().unwrap(), &name]);
    let err = kiln_fails(&a, cfg.path(), &["push", &name]);
    assert!(
        err.contains("unauthorized") && err.contains("kiln login"),
        "{err}"
    );

    let right = login("s3cret");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    assert!(stdout(&right).contains("Login Succeeded"));
    let stored: serde_json::Value =
        serde_json::from_slice(&fs::read(cfg.path().join("config.json")).unwrap()).unwrap();
    // base64("kiln:s3cret")
    assert_eq!(stored["auths"][&reg.addr]["auth"], "a2lsbjpzM2NyZXQ=");

    kiln_ok(&a, cfg.path(), &["push", &name]);
    let b = Kiln::new();
    kiln_ok(&b, cfg.path(), &["pull", &name]);
    assert_eq!(image_ids(&b, cfg.path()), image_ids(&a, cfg.path()));

    let out = kiln_ok(&a, cfg.path(), &["logout", &reg.addr]);
    assert!(stdout(&out).contains("Removing login credentials"));
    let err = kiln_fails(&Kiln::new(), cfg.path(), &["pull", &name]);
    assert!(err.contains("unauthorized"), "{err}");
}

const PASS: u8 = 0;
const THROTTLE: u8 = 1;
const TAMPER: u8 = 2;

/// An HTTP proxy on 127.0.0.1 in front of the registry, one request per
/// connection. It can slow blob bodies down or flip a byte in them.
struct Proxy {
    addr: String,
    mode: Arc<AtomicU8>,
    blob_bytes_sent: Arc<AtomicU64>,
}

impl Proxy {
    fn start(upstream: &str, mode: u8) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mode = Arc::new(AtomicU8::new(mode));
        let sent = Arc::new(AtomicU64::new(0));
        let (upstream, m, s) = (upstream.to_string(), mode.clone(), sent.clone());
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (upstream, m, s) = (upstream.clone(), m.clone(), s.clone());
                thread::spawn(move || {
                    let _ = serve(conn, &upstream, m.load(Ordering::SeqCst), &s);
                });
            }
        });
        Proxy {
            addr,
            mode,
            blob_bytes_sent: sent,
        }
    }
}

fn serve(mut client: TcpStream, upstream: &str, mode: u8, sent: &AtomicU64) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let is_blob = text
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("GET ") && l.contains("/blobs/"));
    let request = crate::support::one_shot_request(&text);
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let body_at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |p| p + 4);
    if mode == TAMPER && is_blob && response.len() - body_at > 64 << 10 {
        let middle = body_at + (response.len() - body_at) / 2;
        response[middle] ^= 0x01;
    }
    if mode == THROTTLE && is_blob {
        for piece in response.chunks(16 << 10) {
            client.write_all(piece)?;
            sent.fetch_add(piece.len() as u64, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(60));
        }
        return Ok(());
    }
    client.write_all(&response)
}

fn snapshot_count(kiln: &Kiln) -> usize {
    fs::read_dir(kiln.root().join("snapshots")).map_or(0, |d| d.count())
}

#[test]
fn tampered_layer_is_rejected_and_nothing_is_stored() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    seed(
        &Kiln::new(),
        cfg.path(),
        &format!("{}/busybox:latest", reg.addr),
        &[],
    );
    let proxy = Proxy::start(&reg.addr, TAMPER);
    let b = Kiln::new();
    let err = kiln_fails(
        &b,
        cfg.path(),
        &["pull", &format!("{}/busybox", proxy.addr)],
    );
    assert!(
        err.contains("failed verification: expected digest sha256:"),
        "{err}"
    );
    assert!(image_ids(&b, cfg.path()).is_empty());
    assert_eq!(snapshot_count(&b), 0, "no snapshot of a tampered layer");
    let blobs: Vec<_> = fs::read_dir(b.root().join("blobs/sha256"))
        .unwrap()
        .collect();
    assert!(
        blobs.len() <= 1,
        "only the (verified) config blob may remain: {blobs:?}"
    );
    cache_check_passes(&b, cfg.path());
}

#[test]
fn sigkill_in_the_middle_of_a_pull_then_a_clean_repull() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let (id, _) = seed(
        &Kiln::new(),
        cfg.path(),
        &format!("{}/busybox:latest", reg.addr),
        &[],
    );
    let proxy = Proxy::start(&reg.addr, THROTTLE);
    let name = format!("{}/busybox", proxy.addr);
    let b = Kiln::new();
    let mut child = kiln_cmd(&b, cfg.path(), &["pull", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while proxy.blob_bytes_sent.load(Ordering::SeqCst) < 256 << 10 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the pull never got going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it was killed"
        );
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(image_ids(&b, cfg.path()).is_empty());
    assert_eq!(
        snapshot_count(&b),
        0,
        "no half-unpacked snapshot is visible"
    );
    cache_check_passes(&b, cfg.path());

    proxy.mode.store(PASS, Ordering::SeqCst);
    let text = stdout(&kiln_ok(&b, cfg.path(), &["pull", &name]));
    assert!(text.contains("Downloaded newer image"), "{text}");
    assert_eq!(image_ids(&b, cfg.path()), [id]);
    cache_check_passes(&b, cfg.path());
}
