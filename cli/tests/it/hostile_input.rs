//! Hostile inputs, end to end: tars whose metadata entries would take
//! gigabytes of memory, an ADDed tar that smuggles an OCI whiteout, a
//! registry that accepts and never answers, and one whose connection is cut
//! in the middle of a layer. Every kiln here runs with HTTP(S)_PROXY at a
//! closed local port and talks to 127.0.0.1 only.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::image::{run_ok, stdout};
use super::support::{
    busybox_tar, kiln_with_busybox, privileged, raw_tar_header, Kiln, Registry, TarMagic,
};

const BLOCK: usize = 512;

/// A GNU tar header block (numeric fields octal, checksum set).
fn header(name: &str, kind: u8, size: u64) -> [u8; BLOCK] {
    raw_tar_header(name.as_bytes(), kind, b"", size, TarMagic::Gnu)
}

fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(BLOCK), 0);
}

/// A tar: `entries` of (name, data), each a regular file, then the end.
fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in entries {
        out.extend_from_slice(&header(name, b'0', data.len() as u64));
        out.extend_from_slice(data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0; 2 * BLOCK]);
    out
}

/// A tar whose first entry is a metadata entry of `kind` ('L' or 'x')
/// holding `len` bytes, then one small file.
fn oversized_tar(kind: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 4 * BLOCK);
    out.extend_from_slice(&header("././@LongLink", kind, len as u64));
    match kind {
        b'x' => {
            let value_len = len - "9999999 path=\n".len();
            let record = format!("{len} path={}\n", "p".repeat(value_len));
            assert_eq!(record.len(), len);
            out.extend_from_slice(record.as_bytes());
        }
        _ => out.resize(out.len() + len, b'n'),
    }
    pad(&mut out);
    out.extend_from_slice(&tar_of(&[("f", b"hi")]));
    out
}

fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}{}",
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn image_ids(k: &Kiln) -> Vec<String> {
    stdout(&run_ok(&mut k.cmd(["images", "-q", "--no-trunc"])))
        .lines()
        .map(str::to_string)
        .collect()
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Nothing of a refused input is left: no image, no snapshot, no blob,
/// nothing staged, and the store checks clean.
fn store_is_empty(k: &Kiln) {
    assert!(image_ids(k).is_empty());
    assert_eq!(count(&k.root().join("snapshots")), 0, "snapshots");
    assert_eq!(count(&k.root().join("blobs/sha256")), 0, "blobs");
    assert_eq!(count(&k.root().join("tmp")), 0, "staging");
    run_ok(&mut k.cmd(["cache", "check"]));
}

#[test]
fn load_of_an_archive_with_a_200_mib_long_name_is_refused_cheaply() {
    let k = Kiln::new();
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.tar");
    fs::write(&evil, oversized_tar(b'L', 200 << 20)).unwrap();
    let start = Instant::now();
    let out = k.cmd(["load", "-i"]).arg(&evil).output().unwrap();
    let err = fails(&out);
    assert!(
        err.contains(
            "image archive: entry at offset 0: long name of 209715200 bytes exceeds the 1 MiB limit"
        ),
        "{err}"
    );
    // Refused at its header, not after reading 200 MiB into memory.
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    store_is_empty(&k);
}

#[test]
fn import_of_a_rootfs_with_a_2_mib_pax_record_is_refused() {
    if !privileged() {
        return;
    }
    let k = Kiln::new();
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.tar");
    fs::write(&evil, oversized_tar(b'x', 2 << 20)).unwrap();
    let out = k.cmd(["import"]).arg(&evil).arg("evil").output().unwrap();
    let err = fails(&out);
    assert!(
        err.contains(
            "layer tar: entry at offset 0: PAX extended header of 2097152 bytes exceeds the 1 MiB limit"
        ),
        "{err}"
    );
    store_is_empty(&k);

    // A long name of 1000 bytes (directories: a component may not pass
    // 255) is fine.
    let mut name = "long-dir/".repeat(111).into_bytes();
    name.extend_from_slice(b"f\0");
    assert_eq!(name.len(), 1001);
    let mut ok = header("././@LongLink", b'L', name.len() as u64).to_vec();
    ok.extend_from_slice(&name);
    pad(&mut ok);
    ok.extend_from_slice(&tar_of(&[("ignored", b"hi")]));
    let fine = dir.path().join("fine.tar");
    fs::write(&fine, ok).unwrap();
    run_ok(k.cmd(["import"]).arg(&fine).arg("fine"));
}

#[test]
fn add_of_a_tar_holding_a_whiteout_fails_naming_the_entry() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    fs::write(
        ctx.path().join("evil.tar"),
        tar_of(&[("ok.txt", b"fine"), (".wh.lower2", b"")]),
    )
    .unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN mkdir -p /x && echo keep > /x/lower2\nADD evil.tar /x/\n",
    )
    .unwrap();
    let out = k
        .cmd(["build", "--progress=plain", "-t", "evil"])
        .arg(ctx.path())
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(err.contains("\".wh.lower2\""), "{err}");
    assert!(err.contains("whiteout"), "{err}");
    let images = stdout(&run_ok(&mut k.cmd(["images"])));
    assert!(!images.contains("evil"), "{images}");
}

/// `kiln` with no way off the machine and the given registry timeouts.
fn kiln_net(k: &Kiln, docker_config: &Path, read_timeout: &str, args: &[&str]) -> Command {
    let mut cmd = k.cmd(args);
    cmd.env("DOCKER_CONFIG", docker_config)
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1")
        .env("KILN_REGISTRY_CONNECT_TIMEOUT", "5s")
        .env("KILN_REGISTRY_READ_TIMEOUT", read_timeout)
        .env_remove("KILN_CONFIG");
    cmd
}

/// Runs `cmd` for at most `limit`; a command still running then is killed
/// and the test fails (a hang is the bug these tests look for).
fn run_bounded(mut cmd: Command, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still ran after {limit:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    let elapsed = start.elapsed();
    (child.wait_with_output().unwrap(), elapsed)
}

#[test]
fn pull_from_a_registry_that_never_answers_times_out() {
    // Bound and listening, never accepting: connections complete in the
    // kernel's backlog, and no byte ever comes back.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let k = Kiln::new();
    let cfg = tempfile::tempdir().unwrap();
    let cmd = kiln_net(&k, cfg.path(), "1s", &["pull", &format!("{addr}/stuck:1")]);
    let (out, elapsed) = run_bounded(cmd, Duration::from_secs(60));
    let err = fails(&out);
    assert!(
        err.contains(&format!("registry {addr} did not respond to GET")),
        "{err}"
    );
    assert!(err.contains("within 1s"), "{err}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert!(image_ids(&k).is_empty());
    drop(listener);
}

/// A proxy on 127.0.0.1 in front of the registry, one request per
/// connection, that cuts the first large blob response in the middle.
struct CuttingProxy {
    addr: String,
    /// Request lines, with ` [range: …]` when one was asked for.
    seen: Arc<Mutex<Vec<String>>>,
    cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    fn start(upstream: &str) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cut = Arc::new(AtomicBool::new(false));
        let (upstream, log, done) = (upstream.to_string(), seen.clone(), cut.clone());
        thread::spawn(move || {
            // Bounded: a pull of one image makes a handful of requests.
            for conn in listener.incoming().flatten().take(64) {
                let (upstream, log, done) = (upstream.clone(), log.clone(), done.clone());
                thread::spawn(move || {
                    let _ = relay(conn, &upstream, &log, &done);
                });
            }
        });
        CuttingProxy { addr, seen, cut }
    }
}

fn relay(
    mut client: TcpStream,
    upstream: &str,
    seen: &Mutex<Vec<String>>,
    cut_done: &AtomicBool,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 << 10 || client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let first = text.lines().next().unwrap_or_default().to_string();
    let range = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("range:"))
        .map(|l| format!(" [{}]", l.to_ascii_lowercase()))
        .unwrap_or_default();
    seen.lock().unwrap().push(format!("{first}{range}"));
    let is_blob = first.starts_with("GET ") && first.contains("/blobs/");
    let request = crate::support::one_shot_request(&text);
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(20)))?;
    up.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    up.take(256 << 20).read_to_end(&mut response)?;
    let body_at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |p| p + 4);
    let body_len = response.len() - body_at;
    if is_blob && body_len > 64 << 10 && !cut_done.swap(true, Ordering::SeqCst) {
        // Headers promise the whole body; half of it comes, then the end.
        client.write_all(&response[..body_at + body_len / 2])?;
        client.flush()?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    client.write_all(&response)
}

#[test]
fn pull_survives_a_connection_cut_in_the_middle_of_a_layer() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let seeder = Kiln::new();
    let name = format!("{}/busybox:latest", reg.addr);
    let mut import = kiln_net(
        &seeder,
        cfg.path(),
        "30s",
        &["import", "--change", r#"CMD ["sh"]"#],
    );
    import.arg(busybox_tar()).arg(&name);
    let id = stdout(&run_ok(&mut import)).trim().to_string();
    run_ok(&mut kiln_net(&seeder, cfg.path(), "30s", &["push", &name]));

    let proxy = CuttingProxy::start(&reg.addr);
    let k = Kiln::new();
    let pulled = format!("{}/busybox:latest", proxy.addr);
    let cmd = kiln_net(&k, cfg.path(), "10s", &["pull", &pulled]);
    let (out, _) = run_bounded(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "pull failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        proxy.cut.load(Ordering::SeqCst),
        "the proxy never cut a transfer"
    );
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|l| l.contains("/blobs/") && l.contains("[range: bytes=")),
        "the cut blob was not resumed with a range request: {seen:?}"
    );
    assert_eq!(image_ids(&k), [id]);
    let inspect = stdout(&run_ok(&mut k.cmd(["image", "inspect", &pulled])));
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v[0]["Config"]["Cmd"][0], "sh", "{inspect}");
    run_ok(&mut k.cmd(["cache", "check"]));
    if privileged() {
        let out = run_ok(&mut k.cmd(["run", "--rm", &pulled, "sh", "-c", "echo resumed"]));
        assert_eq!(stdout(&out).trim(), "resumed");
    }
}
