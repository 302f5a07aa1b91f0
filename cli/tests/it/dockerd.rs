//! Docker 20.10's daemon (Debian's docker.io), private to one test: its own
//! data root, exec root and socket, no iptables, no bridge, so nothing of
//! the host's network is touched. Tests that compare kiln with Docker run
//! the same commands against it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The docker.io client; `/usr/local/bin` may hold another one.
pub const CLIENT: &str = "/usr/bin/docker";
const DAEMON: &str = "/usr/sbin/dockerd";

pub struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// A started daemon, or `None` when the person running the tests opted
    /// out with KILN_SKIP_DOCKER=1; without docker.io the test fails.
    pub fn start() -> Option<Dockerd> {
        if !Path::new(DAEMON).exists() || !Path::new(CLIENT).exists() {
            if std::env::var("KILN_SKIP_DOCKER").as_deref() == Ok("1") {
                eprintln!("skipped: docker.io is not installed (KILN_SKIP_DOCKER=1)");
                return None;
            }
            panic!(
                "docker.io is not installed (apt-get install docker.io); KILN_SKIP_DOCKER=1 skips"
            );
        }
        // Under /tmp with a short name: the socket path must fit sun_path.
        let dir = tempfile::Builder::new()
            .prefix("dd")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let log = std::fs::File::create(d.join("log")).unwrap();
        let child = Command::new(DAEMON)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("x"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("s").display()))
            .args(["--iptables=false", "--ip-masq=false", "--bridge=none"])
            .args(["--userland-proxy=false", "--storage-driver=overlay2"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting dockerd");
        let daemon = Dockerd { child, dir };
        daemon.wait_ready();
        Some(daemon)
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            let ping = self.cmd(["version"]).output().unwrap();
            if ping.status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        panic!("dockerd did not answer in 60 s:\n{log}");
    }

    /// `docker -H SOCKET ARGS…`, ready to run.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(CLIENT);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket().display()));
        // The client's own config (auth, formats) must not come from the host.
        cmd.env("DOCKER_CONFIG", self.dir.path().join("config"));
        cmd.args(args);
        cmd
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("s")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Containers first, so that no shim outlives the daemon.
        let _ = self
            .cmd(["rm", "-f", "-v"])
            .args(self.ids())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever it left mounted under its roots (overlays under data/,
        // the netns under the exec root) would keep them busy.
        for root in ["data", "x"] {
            let _ = Command::new("umount")
                .args(["-R", "-l"])
                .arg(self.dir.path().join(root))
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Dockerd {
    fn ids(&self) -> Vec<String> {
        let out = self.cmd(["ps", "-aq"]).output();
        out.map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
    }
}
