//! The clients `kiln serve` is for, each as its users run it against
//! kiln: docker-compose (Debian's 1.29), the Python Docker SDK (Debian's
//! python3-docker) and testcontainers-python (from PyPI, in a venv).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::serve::{text, Server};
use crate::support::{kiln_with_busybox, ok, privileged};

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `GET /` on 127.0.0.1:PORT, once it answers with `want`.
fn wait_for_page(port: u16, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n");
            last.clear();
            let _ = s.read_to_string(&mut last);
            if last.contains(want) {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("127.0.0.1:{port} never answered {want:?}; last answer: {last:?}");
}

/// A tool the test needs, installed by scripts/test.sh from
/// testdata/apt-packages.txt; its absence fails the test.
fn tool(path: &str) -> &str {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: scripts/test.sh installs it (testdata/apt-packages.txt)"
    );
    path
}

#[test]
fn docker_compose_brings_a_two_service_project_up_and_down() {
    if !privileged() || !crate::serve::docker_present() {
        return;
    }
    let compose = tool("/usr/bin/docker-compose");
    let k = kiln_with_busybox();
    let server = Server::start(&k);
    let project = tempfile::tempdir().unwrap();
    let port = free_port();
    // `web` serves what it fetched from `api` by name on the project
    // network; `api` keeps its page on a named volume.
    let yaml = format!(
        r#"version: "3.8"
services:
  api:
    image: busybox
    command: ["sh", "-c", "echo from-api > /data/index.html && echo api-ready && httpd -f -p 8000 -h /data"]
    volumes: ["data:/data"]
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www; while true; do wget -qO /www/index.html http://api:8000/ || true; sleep 1; done & httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:{port}:80"]
    depends_on: [api]
volumes:
  data: {{}}
"#
    );
    std::fs::write(project.path().join("docker-compose.yml"), yaml).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(compose)
            .current_dir(project.path())
            .args(["-p", "kilnapi"])
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", server.socket().display()),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["up", "-d"]);
    wait_for_page(port, "from-api");
    let ps = run(&["ps"]);
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");
    assert!(run(&["logs", "api"]).contains("api-ready"));
    assert_eq!(
        run(&["exec", "-T", "api", "cat", "/data/index.html"]),
        "from-api\n"
    );
    run(&["down", "-v"]);
    assert_eq!(ok(&k, &["ps", "-aq"]), "");
    assert!(!ok(&k, &["volume", "ls", "-q"]).contains("kilnapi_data"));
    assert!(!ok(&k, &["network", "ls"]).contains("kilnapi_default"));
}

const SDK_SCRIPT: &str = r#"
import sys, urllib.request, docker
client = docker.from_env()
c = client.containers.run("busybox", ["sh", "-c", "mkdir /w && echo sdk-page > /w/index.html && echo listening && httpd -f -p 80 -h /w"],
                          detach=True, ports={"80/tcp": None})
for line in c.logs(stream=True, follow=True):
    if b"listening" in line:
        break
c.reload()
port = c.ports["80/tcp"][0]["HostPort"]
print(urllib.request.urlopen("http://127.0.0.1:%s/" % port, timeout=10).read().decode().strip())
c.remove(force=True)
print(len(client.containers.list(all=True)))
"#;

#[test]
fn the_python_docker_sdk_starts_waits_reads_a_port_and_tears_down() {
    if !privileged() {
        return;
    }
    let python = tool("/usr/bin/python3");
    let k = kiln_with_busybox();
    let server = Server::start(&k);
    let out = Command::new(python)
        .args(["-c", SDK_SCRIPT])
        .env(
            "DOCKER_HOST",
            format!("unix://{}", server.socket().display()),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "sdk-page\n0\n",
        "{}",
        text(&out)
    );
}

const TESTCONTAINERS_SCRIPT: &str = r#"
import urllib.request
from testcontainers.core.container import DockerContainer
from testcontainers.core.waiting_utils import wait_for_logs
c = (DockerContainer("busybox")
     .with_command(["sh", "-c", "mkdir /w && echo tc-page > /w/index.html && echo server-up && httpd -f -p 80 -h /w"])
     .with_exposed_ports(80))
with c:
    wait_for_logs(c, "server-up", timeout=20)
    url = "http://%s:%s/" % (c.get_container_host_ip(), c.get_exposed_port(80))
    print(urllib.request.urlopen(url, timeout=10).read().decode().strip())
"#;

#[test]
fn testcontainers_python_runs_a_container_against_kiln() {
    if !privileged() {
        return;
    }
    let python = tool("/usr/bin/python3");
    let venv = tempfile::tempdir().unwrap();
    let made = Command::new(python)
        .args(["-m", "venv"])
        .arg(venv.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "python3 -m venv: {}", text(&made));
    let pip = Command::new(venv.path().join("bin/pip"))
        .args(["install", "-q", "testcontainers"])
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "pip install testcontainers (PyPI): {}",
        text(&pip)
    );
    let k = kiln_with_busybox();
    let server = Server::start(&k);
    let out = Command::new(venv.path().join("bin/python"))
        .args(["-c", TESTCONTAINERS_SCRIPT])
        .env(
            "DOCKER_HOST",
            format!("unix://{}", server.socket().display()),
        )
        // The reaper is an image from Docker Hub, which this machine has not.
        .env("TESTCONTAINERS_RYUK_DISABLED", "true")
        // The test runs beside kiln, not in a container kiln started;
        // testcontainers guesses otherwise when /.dockerenv exists.
        .env("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tc-page\n");
    assert_eq!(ok(&k, &["ps", "-aq"]), "", "the container is removed");
}
