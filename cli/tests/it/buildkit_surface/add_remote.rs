//! ADD from URLs (served from 127.0.0.1 by a server in the test) and from
//! git repositories (local file:// repositories made with `git`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{build, build_ok, cached_steps, case, kiln_with_busybox, privileged, run_sh, text};

/// A one-thread HTTP/1.0 server: path → body, every answer with the same
/// `Last-Modified`; counts the requests it answers.
struct Server {
    base: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<AtomicUsize>,
}

const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const LAST_MODIFIED_SECS: &str = "784111777";

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let (f, h) = (files.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = first.split(' ').nth(1).unwrap_or("/").to_string();
                h.fetch_add(1, Ordering::SeqCst);
                let body = f.lock().map(|m| m.get(&path).cloned()).ok().flatten();
                let mut out = &stream;
                let _ = match body {
                    Some(b) => out
                        .write_all(
                            format!(
                                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nLast-Modified: {LAST_MODIFIED}\r\n\r\n",
                                b.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|_| out.write_all(&b)),
                    None => out.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
                };
            }
        });
        Server { base, files, hits }
    }

    fn serve(&self, path: &str, body: &str) {
        self.files
            .lock()
            .expect("files")
            .insert(path.to_string(), body.as_bytes().to_vec());
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// How many ADD and RUN steps a build log shows as cached.
fn steps_cached(stderr: &str) -> usize {
    let cached = cached_steps(stderr);
    cached.iter().filter(|s| !s.contains("] FROM ")).count()
}

fn sha256(data: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("f");
    std::fs::write(&f, data).expect("write");
    let out = Command::new("sha256sum")
        .arg(&f)
        .output()
        .expect("sha256sum");
    format!(
        "sha256:{}",
        text(&out.stdout).split(' ').next().unwrap_or("")
    )
}

#[test]
fn add_url_names_mode_mtime_and_cache() {
    if !privileged() {
        return;
    }
    let server = Server::start();
    server.serve("/files/tool.txt", "version one\n");
    let k = kiln_with_busybox();
    let dir = case("add-url");
    let arg = format!("BASE={}", server.base);
    let (id, _) = build_ok(&k, &dir, &["--build-arg", &arg]);
    assert_eq!(
        run_sh(&k, &id, "cat /stat; cat /opt/tool.txt /bin/renamed"),
        format!(
            "/opt/tool.txt 600 0:0 {LAST_MODIFIED_SECS}\n/bin/renamed 755 1:2 {LAST_MODIFIED_SECS}\nversion one\nversion one"
        )
    );
    // Same content: every step is cached (the URL is fetched to key it).
    let (_, stderr) = build_ok(&k, &dir, &["--build-arg", &arg]);
    assert_eq!(steps_cached(&stderr), 3, "{stderr}");
    // New content at the same URL: the ADDs run again.
    server.serve("/files/tool.txt", "version two\n");
    let (changed, stderr) = build_ok(&k, &dir, &["--build-arg", &arg]);
    assert_eq!(steps_cached(&stderr), 0, "{stderr}");
    assert_eq!(run_sh(&k, &changed, "cat /opt/tool.txt"), "version two");
    // A missing file is a clear error naming the URL.
    let missing = format!("BASE={}/nothing", server.base);
    let out = build(&k, &dir, &["--build-arg", &missing]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}/nothing/files/tool.txt: server answered 404",
            server.base
        )),
        "{stderr}"
    );
}

#[test]
fn add_checksum_is_the_key_and_a_mismatch_fails() {
    if !privileged() {
        return;
    }
    let server = Server::start();
    server.serve("/files/tool.txt", "checked\n");
    let k = kiln_with_busybox();
    let dir = case("add-url");
    let file = dir.join("checksum.Dockerfile");
    let base = format!("BASE={}", server.base);
    let good = sha256("checked\n");
    let sum = format!("SUM={good}");
    let flags = [
        "-f",
        file.to_str().expect("utf-8"),
        "--build-arg",
        &base,
        "--build-arg",
        &sum,
    ];
    let (id, _) = build_ok(&k, &dir, &flags);
    assert_eq!(run_sh(&k, &id, "cat /checked.txt"), "checked");
    // With a checksum nothing is fetched to key the step: a rebuild is
    // cached without a request.
    let before = server.hits();
    let (_, stderr) = build_ok(&k, &dir, &flags);
    assert_eq!(server.hits(), before, "{stderr}");
    assert!(
        cached_steps(&stderr).iter().any(|s| s.contains("ADD")),
        "{stderr}"
    );
    // A wrong checksum fails, naming the URL and both digests.
    let wrong = sha256("something else\n");
    let sum = format!("SUM={wrong}");
    let flags = [
        "-f",
        file.to_str().expect("utf-8"),
        "--build-arg",
        &base,
        "--build-arg",
        &sum,
    ];
    let out = build(&k, &dir, &flags);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let url = format!("{}/files/tool.txt", server.base);
    assert!(
        stderr.contains(&format!(
            "{url}: checksum mismatch: expected {wrong}, got {good}"
        )),
        "{stderr}"
    );
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// A repository `r.git` with `sub/file.txt` tagged v1 on branch main.
pub fn make_repo(parent: &Path) -> std::path::PathBuf {
    let repo = parent.join("r.git");
    std::fs::create_dir_all(repo.join("sub")).expect("mkdir");
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("sub/file.txt"), "tagged\n").expect("write");
    std::fs::write(repo.join("top.txt"), "top\n").expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    git(&repo, &["tag", "-a", "v1", "-m", "v1"]);
    repo
}

#[test]
fn add_git_refs_subdirs_and_keep_git_dir() {
    if !privileged() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = make_repo(tmp.path());
    let k = kiln_with_busybox();
    let dir = case("add-git");
    let arg = format!("REPO=file://{}", repo.display());
    let (id, _) = build_ok(&k, &dir, &["--build-arg", &arg]);
    assert_eq!(
        run_sh(&k, &id, "cd /tagged && find . | sort; cat /head/top.txt; ls -a /head | grep -c .git; test -d /kept/.git && echo kept"),
        ".\n./file.txt\ntop\n0\nkept"
    );
    // A new commit on main: the ADDs of main re-run, the tag stays cached.
    std::fs::write(repo.join("top.txt"), "moved\n").expect("write");
    git(&repo, &["commit", "-qam", "two"]);
    let (id, stderr) = build_ok(&k, &dir, &["--build-arg", &arg]);
    let cached = cached_steps(&stderr);
    assert!(cached.iter().any(|s| s.contains("#v1:sub")), "{stderr}");
    assert!(!cached.iter().any(|s| s.contains("#main")), "{stderr}");
    assert_eq!(
        run_sh(&k, &id, "cat /head/top.txt /kept/top.txt"),
        "moved\nmoved"
    );
    let out = build(
        &k,
        &dir,
        &[
            "--build-arg",
            &format!("REPO=file://{}/none.git", tmp.path().display()),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("none.git"),
        "{}",
        text(&out.stderr)
    );
}
