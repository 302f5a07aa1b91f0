//! `kiln serve`: the Docker Engine API on a socket, driven by docker
//! 20.10's own CLI (the client the API is for) and by raw requests that
//! attack it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{kiln_with_busybox, privileged, Kiln, Registry};

const DOCKER: &str = "/usr/bin/docker";

/// A running `kiln serve` on a socket of its own; SIGTERM on drop.
pub struct Server {
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start(k: &Kiln) -> Server {
        // Short, under /tmp: a socket path must fit sun_path.
        let dir = tempfile::Builder::new()
            .prefix("ks")
            .tempdir_in("/tmp")
            .unwrap();
        let sock = dir.path().join("d.sock");
        let child = k
            .cmd(["serve", "-H"])
            .arg(format!("unix://{}", sock.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kiln serve");
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&sock).is_err() {
            assert!(
                Instant::now() < deadline,
                "kiln serve did not listen on {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, dir }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("d.sock")
    }

    /// The docker CLI pointed at this server, with a config of its own.
    pub fn docker<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(DOCKER);
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.dir.path().join("config"))
            .env("DOCKER_BUILDKIT", "0")
            .args(args);
        cmd
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One raw HTTP/1.1 request; the status code and the body.
    fn request(&self, head: &str, body: &[u8]) -> (u16, String) {
        let mut s = UnixStream::connect(self.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "{head} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        let _ = s.write_all(body);
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

impl Server {
    fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "rc {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// docker.io's CLI, or an opt-out by KILN_SKIP_DOCKER=1.
pub fn docker_present() -> bool {
    if Path::new(DOCKER).exists() {
        return true;
    }
    if std::env::var("KILN_SKIP_DOCKER").as_deref() == Ok("1") {
        eprintln!("skipped: docker.io is not installed (KILN_SKIP_DOCKER=1)");
        return false;
    }
    panic!("docker.io is not installed (apt-get install docker.io); KILN_SKIP_DOCKER=1 skips");
}

#[test]
fn the_docker_cli_runs_builds_and_lists_through_kiln_serve() {
    if !privileged() || !docker_present() {
        return;
    }
    let k = kiln_with_busybox();
    let server = Server::start(&k);
    let version = server.docker_ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Platform.Name}}",
    ]);
    assert_eq!(version.trim(), "1.41 kiln");

    // An attached run: both streams apart, the exit status passed on.
    let out = server
        .docker([
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "out\n",
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("err"),
        "{}",
        text(&out)
    );

    // `--rm` races the container's removal against the client's wait:
    // the status must survive it every time.
    for _ in 0..5 {
        let out = server
            .docker([
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "exit 7",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    }

    // The classic build API, then the image run, and seen by the kiln CLI
    // on the same store.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo built-by-api > /b.txt\nCMD [\"cat\", \"/b.txt\"]\n",
    )
    .unwrap();
    let built = server.docker_ok(&["build", "-t", "apibuilt", ctx.path().to_str().unwrap()]);
    assert!(built.contains("Successfully built"), "{built}");
    assert_eq!(
        server.docker_ok(&["run", "--rm", "apibuilt"]),
        "built-by-api\n"
    );
    let images = server.docker_ok(&["images", "--format", "{{.Repository}}"]);
    assert!(images.lines().any(|l| l == "apibuilt"), "{images}");
    let cli = k
        .cmd(["images", "--format", "{{.Repository}}"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&cli.stdout).contains("apibuilt"));

    // The `run --rm` containers are gone.
    assert_eq!(server.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn detached_containers_exec_copy_logs_and_remove_through_the_api() {
    if !privileged() || !docker_present() {
        return;
    }
    let k = kiln_with_busybox();
    let server = Server::start(&k);
    server.docker_ok(&[
        "run",
        "-d",
        "--name",
        "apiweb",
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 60",
    ]);
    let ps = server.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("apiweb Up"), "{ps}");

    let out = server
        .docker(["exec", "apiweb", "sh", "-c", "echo in-exec; exit 4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "in-exec\n");

    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("note.txt");
    std::fs::write(&file, "copied in\n").unwrap();
    server.docker_ok(&["cp", file.to_str().unwrap(), "apiweb:/note.txt"]);
    assert_eq!(
        server.docker_ok(&["exec", "apiweb", "cat", "/note.txt"]),
        "copied in\n"
    );
    let back = host.path().join("back.txt");
    server.docker_ok(&["cp", "apiweb:/note.txt", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "copied in\n");

    assert_eq!(server.docker_ok(&["logs", "apiweb"]), "started\n");
    let state = server.docker_ok(&["inspect", "-f", "{{.State.Status}}", "apiweb"]);
    assert_eq!(state.trim(), "running");
    // A running container is not removed without force: Docker's 409.
    let refused = server.docker(["rm", "apiweb"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot remove a running container"));
    server.docker_ok(&["rm", "-f", "apiweb"]);
    assert_eq!(server.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn exec_and_run_with_a_terminal_work_through_the_api() {
    if !privileged() || !docker_present() {
        return;
    }
    let k = kiln_with_busybox();
    let server = Server::start(&k);
    server.docker_ok(&["run", "-d", "--name", "apitty", "busybox", "sleep", "60"]);
    // `script` gives the docker CLI a terminal, as a user's shell has.
    let docker = |args: &str| {
        let line = format!(
            "DOCKER_HOST=unix://{} DOCKER_CONFIG={} {DOCKER} {args}",
            server.socket().display(),
            server.dir.path().join("config").display()
        );
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .output()
            .unwrap()
    };
    let out = docker("exec -it apitty sh -c 'tty; exit 5'");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/dev/pts/"),
        "{}",
        text(&out)
    );
    let out = docker("run --rm -it busybox sh -c 'tty && echo tty-run'");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("tty-run"),
        "{}",
        text(&out)
    );
    server.docker_ok(&["rm", "-f", "apitty"]);
}

#[test]
fn volumes_networks_and_save_load_through_the_api() {
    if !privileged() || !docker_present() {
        return;
    }
    let k = kiln_with_busybox();
    let server = Server::start(&k);
    server.docker_ok(&["volume", "create", "apivol"]);
    server.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "apivol:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        server.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "apivol:/data",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "kept\n"
    );
    assert!(server.docker_ok(&["volume", "ls", "-q"]).contains("apivol"));
    server.docker_ok(&["volume", "rm", "apivol"]);

    server.docker_ok(&["network", "create", "apinet"]);
    let nets = server.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        nets.lines().any(|l| l == "apinet") && nets.lines().any(|l| l == "bridge"),
        "{nets}"
    );
    let inspect = server.docker_ok(&["network", "inspect", "-f", "{{.Driver}}", "apinet"]);
    assert_eq!(inspect.trim(), "bridge");
    server.docker_ok(&["network", "rm", "apinet"]);

    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("bb.tar");
    server.docker_ok(&["save", "-o", tar.to_str().unwrap(), "busybox"]);
    server.docker_ok(&["rmi", "busybox"]);
    let loaded = server.docker_ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: busybox:latest"), "{loaded}");
    assert_eq!(
        server.docker_ok(&["run", "--rm", "busybox", "echo", "back"]),
        "back\n"
    );
}

#[test]
fn bad_requests_get_dockers_errors_and_the_server_keeps_serving() {
    if !privileged() {
        return;
    }
    let k = Kiln::new();
    let server = Server::start(&k);
    let (status, body) = server.request("GET /v1.41/no/such/route", b"");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    let (status, body) = server.request("GET /v1.99/info", b"");
    assert_eq!(status, 400);
    assert!(body.contains("too new"), "{body}");
    let (status, body) = server.request("POST /containers/create", b"{\"Image\": ");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid JSON"), "{body}");
    let (status, _) = server.request(
        "POST /containers/create",
        br#"{"Image":"nope","HostConfig":{"NetworkMode":"container:x"}}"#,
    );
    assert_eq!(status, 400);
    let (status, body) = server.request("POST /containers/create", br#"{"Image":"missing-image"}"#);
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.request("GET /containers/nope/json", b"");
    assert_eq!(status, 404);
    assert!(body.contains("No such container"), "{body}");
    // A body past the limit is refused, not read into memory.
    let huge = vec![b' '; 5 << 20];
    let (status, _) = server.request("POST /containers/create", &huge);
    assert_eq!(status, 400);
    // A client that goes away mid-body and many at once leave it serving.
    for _ in 0..50 {
        let mut s = UnixStream::connect(server.socket()).unwrap();
        let _ = s.write_all(
            b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 100\r\n\r\n{\"Im",
        );
    }
    let many: Vec<_> = (0..200)
        .map(|_| UnixStream::connect(server.socket()).unwrap())
        .collect();
    let (status, body) = server.request("GET /_ping", b"");
    assert_eq!((status, body.as_str()), (200, "OK"));
    drop(many);
}

#[test]
fn serve_refuses_addresses_anyone_else_can_reach_and_removes_its_socket() {
    let k = Kiln::new();
    let out = k
        .cmd(["serve", "-H", "tcp://0.0.0.0:23750"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
    if !privileged() {
        return;
    }
    let mut server = Server::start(&k);
    let sock = server.socket();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o660,
        "the socket is root's (and the kiln group's) only"
    );
    // A second server on the same socket is refused, the first untouched.
    let second = k
        .cmd(["serve", "-H"])
        .arg(format!("unix://{}", sock.display()))
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("another server"));
    assert_eq!(server.request("GET /_ping", b"").0, 200);
    server.stop();
    assert!(
        server.dir.path().exists() && !sock.exists(),
        "SIGTERM leaves no socket behind"
    );
}

#[test]
fn push_pull_logs_follow_and_events_through_the_api() {
    if !privileged() || !docker_present() {
        return;
    }
    let registry = Registry::start(None);
    let k = kiln_with_busybox();
    let server = Server::start(&k);
    let target = format!("{}/api/busybox:v1", registry.addr);
    server.docker_ok(&["tag", "busybox", &target]);
    let pushed = server.docker_ok(&["push", &target]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");

    // Another store pulls it through its own server, and runs it.
    let other = Kiln::new();
    let other_server = Server::start(&other);
    let pulled = other_server.docker_ok(&["pull", &target]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    assert_eq!(
        other_server.docker_ok(&["run", "--rm", &target, "echo", "pulled"]),
        "pulled\n"
    );

    // `logs -f` follows until the container ends.
    server.docker_ok(&[
        "run",
        "-d",
        "--name",
        "follow",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.2; done",
    ]);
    assert_eq!(
        server.docker_ok(&["logs", "-f", "follow"]),
        "line1\nline2\nline3\n"
    );

    assert_eq!(server.docker_ok(&["wait", "follow"]), "0\n");
    // `until` has whole seconds: one second on, so the exit just now is in.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let until = (now.as_secs() + 1).to_string();
    let events = server.docker_ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        &until,
        "--filter",
        "container=follow",
        "--format",
        "{{.Type}} {{.Action}}",
    ]);
    for action in ["create", "start", "die"] {
        assert!(
            events.lines().any(|l| l == format!("container {action}")),
            "{events}"
        );
    }
}

#[test]
fn containers_outlive_the_server() {
    if !privileged() || !docker_present() {
        return;
    }
    let k = kiln_with_busybox();
    let mut server = Server::start(&k);
    server.docker_ok(&["run", "-d", "--name", "outlives", "busybox", "sleep", "60"]);
    server.stop();
    let ps = k
        .cmd(["ps", "--format", "{{.Names}} {{.State}}"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ps.stdout), "outlives running\n");
    // A new server finds it, and removes it.
    let again = Server::start(&k);
    again.docker_ok(&["rm", "-f", "outlives"]);
    assert_eq!(again.docker_ok(&["ps", "-aq"]), "");
}
