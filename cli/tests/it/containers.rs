//! Detached containers end to end: `run -d` with its monitor, `ps`,
//! `logs`, `stop`, restart policies, `exec`, `pause`, `diff`, volumes,
//! published ports, user networks, and a monitor's death. Privileged: run
//! as root, or set KILN_SKIP_PRIVILEGED=1 to skip with a note.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod attach;
mod commit;
mod cp;
mod events;
mod export;
mod health;
mod lifecycle;
mod links;
mod many_layers;
mod network;
mod prune;
mod terminal;

pub use crate::support::privileged;
use crate::support::{kiln_with_busybox, Kiln};

/// A root with the busybox image imported as `busybox`; every container
/// left is removed (`rm -f`) when it drops, so no monitor outlives a test.
struct Env {
    kiln: Kiln,
}

impl Env {
    fn new() -> Env {
        Env {
            kiln: kiln_with_busybox(),
        }
    }

    fn out(&self, args: &[&str]) -> Output {
        self.kiln.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs and asserts success; stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(
            o.status.success(),
            "kiln {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        v[0].clone()
    }

    fn status(&self, name: &str) -> String {
        self.inspect(name)["State"]["Status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Polls `check` for up to `secs` seconds.
    fn until(&self, secs: u64, mut check: impl FnMut(&Env) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if check(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn dir_of(&self, name: &str) -> PathBuf {
        let id = self.inspect(name)["Id"].as_str().unwrap().to_string();
        self.kiln.root().join("containers").join(id)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let o = self.out(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&o.stdout).lines() {
            let _ = self.out(&["rm", "-f", id]);
        }
        // A network's namespace is bound onto a file in the root.
        let o = self.out(&["network", "ls", "-q"]);
        for id in String::from_utf8_lossy(&o.stdout).lines() {
            let _ = self.out(&["network", "rm", id]);
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

const WEB: &str =
    "mkdir -p /www && echo kiln-page > /www/index.html && exec httpd -f -p 80 -h /www";

#[test]
fn httpd_answers_on_a_published_port() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let id = env.ok(&[
        "run", "-d", "--name", "web", "-p", &publish, "busybox", "sh", "-c", WEB,
    ]);
    assert_eq!(id.trim().len(), 64, "run -d prints the full ID: {id}");
    let mut body = String::new();
    assert!(
        env.until(10, |_| {
            body = http_get(port, "/index.html").unwrap_or_default();
            body.contains("kiln-page")
        }),
        "no answer on {port}: {body:?}"
    );
    assert_eq!(
        env.ok(&["port", "web", "80"]).trim(),
        format!("127.0.0.1:{port}")
    );
    assert!(env
        .ok(&["ps"])
        .contains(&format!("127.0.0.1:{port}->80/tcp")));
    env.ok(&["rm", "-f", "web"]);
    // published ports go with the container
    assert!(env.until(5, |_| TcpStream::connect(("127.0.0.1", port)).is_err()));
}

#[test]
fn logs_follow_and_keep_streams_apart() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let script = "echo to-err >&2; for i in 1 2 3; do echo line$i; sleep 0.3; done";
    env.ok(&["run", "-d", "--name", "talk", "busybox", "sh", "-c", script]);
    let o = env.out(&["logs", "-f", "talk"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(out, "line1\nline2\nline3\n", "logs -f follows to the end");
    assert_eq!(err, "to-err\n");
    assert_eq!(
        env.status("talk"),
        "exited",
        "logs -f returned once it ended"
    );
    assert_eq!(env.ok(&["logs", "--tail", "1", "talk"]), "line3\n");
    let stamped = env.ok(&["logs", "-t", "talk"]);
    assert!(
        stamped
            .lines()
            .all(|l| l.contains('T') && l.contains("Z line")),
        "{stamped}"
    );
}

#[test]
fn stop_honours_stopsignal_and_timeout() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let trap = "trap 'echo got-usr1; exit 0' USR1; echo ready; while :; do sleep 0.1; done";
    env.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "--stop-signal",
        "USR1",
        "busybox",
        "sh",
        "-c",
        trap,
    ]);
    assert!(env.until(5, |e| e.ok(&["logs", "polite"]).contains("ready")));
    let began = Instant::now();
    env.ok(&["stop", "polite"]);
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(env.ok(&["logs", "polite"]).contains("got-usr1"));
    assert_eq!(env.inspect("polite")["State"]["ExitCode"], 0);

    // PID 1 without a handler ignores SIGTERM: SIGKILL after -t
    env.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "while :; do sleep 0.1; done",
    ]);
    let began = Instant::now();
    env.ok(&["stop", "-t", "1", "stubborn"]);
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(env.inspect("stubborn")["State"]["ExitCode"], 137);
}

#[test]
fn on_failure_restarts_exactly_three_times() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    let dir = env.dir_of("flaky");
    assert!(env.until(20, |e| e.status("flaky") == "exited" && !locked(&dir)));
    std::thread::sleep(Duration::from_millis(500));
    let c = env.inspect("flaky");
    assert_eq!(c["RestartCount"], 3);
    assert_eq!(c["State"]["ExitCode"], 3);
    assert_eq!(env.ok(&["logs", "flaky"]).matches("run\n").count(), 4);
}

/// Whether a monitor still holds the container's lock.
fn locked(dir: &Path) -> bool {
    let f = std::fs::File::open(dir.join("monitor.lock")).unwrap();
    let free = f.try_lock().is_ok();
    !free
}

#[test]
fn exec_sees_the_containers_filesystem_and_pids() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo inside > /marker; exec sleep 1000",
    ]);
    assert!(
        env.until(5, |e| e.out(&["exec", "box", "cat", "/marker"]).stdout
            == b"inside\n")
    );
    let ps = env.ok(&["exec", "box", "ps", "-o", "pid,args"]);
    let first = ps.lines().nth(1).unwrap_or("");
    assert!(first.trim().starts_with("1 sleep 1000"), "{ps}");
    assert_eq!(
        env.out(&["exec", "box", "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    let env_out = env.ok(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "kiln",
        "box",
        "sh",
        "-c",
        "echo $X $(pwd) $(id -u)",
    ]);
    assert_eq!(env_out, "1 /tmp 1000\n");
    assert!(env.ok(&["top", "box"]).contains("sleep 1000"));
}

#[test]
fn pause_freezes_the_container() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let counter = "i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.02; done";
    env.ok(&[
        "run", "-d", "--name", "ticker", "busybox", "sh", "-c", counter,
    ]);
    let upper = PathBuf::from(
        env.inspect("ticker")["GraphDriver"]["Data"]["UpperDir"]
            .as_str()
            .unwrap(),
    );
    let read = || std::fs::read_to_string(upper.join("count")).unwrap_or_default();
    assert!(env.until(5, |_| read().trim().parse::<u32>().unwrap_or(0) > 2));
    env.ok(&["pause", "ticker"]);
    assert_eq!(env.status("ticker"), "paused");
    assert!(env.ok(&["ps"]).contains("(Paused)"));
    let frozen = read();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(read(), frozen, "the counter advanced while paused");
    env.ok(&["unpause", "ticker"]);
    assert!(
        env.until(5, |_| read() != frozen),
        "the counter did not resume"
    );
}

#[test]
fn diff_shows_added_changed_deleted() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "changer",
        "busybox",
        "sh",
        "-c",
        "echo x > /new; rm /etc/group; echo y >> /etc/passwd",
    ]);
    let diff = env.ok(&["diff", "changer"]);
    for line in ["A /new", "D /etc/group", "C /etc/passwd", "C /etc"] {
        assert!(
            diff.lines().any(|l| l == line),
            "{line:?} missing in:\n{diff}"
        );
    }
    assert!(
        !diff.contains("/etc/hosts"),
        "mount stubs are not changes:\n{diff}"
    );
}

#[test]
fn volumes_outlive_containers_and_are_shared() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo v1 > /data/f",
    ]);
    env.ok(&["rm", "writer"]);
    assert!(env.ok(&["volume", "ls", "-q"]).lines().any(|l| l == "data"));
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "-v",
            "data:/data",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "v1\n"
    );
    // a new volume starts with the image's content at its path
    assert_eq!(
        env.ok(&["run", "--rm", "-v", "homes:/home", "busybox", "ls", "/home"]),
        "kiln\n"
    );

    env.ok(&["create", "--name", "holder", "-v", "/shared", "busybox"]);
    env.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "holder",
        "busybox",
        "sh",
        "-c",
        "echo s > /shared/x",
    ]);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "holder",
            "busybox",
            "cat",
            "/shared/x"
        ]),
        "s\n"
    );
    let ro = env.out(&[
        "run",
        "--rm",
        "--volumes-from",
        "holder:ro",
        "busybox",
        "touch",
        "/shared/y",
    ]);
    assert!(!ro.status.success());
    let anon = env.inspect("holder")["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !env.out(&["volume", "rm", &anon]).status.success(),
        "a volume in use stays"
    );
    env.ok(&["rm", "-v", "holder"]);
    assert!(
        !env.ok(&["volume", "ls", "-q"]).contains(&anon),
        "rm -v removes anonymous volumes"
    );
    assert!(
        env.ok(&["volume", "ls", "-q"]).contains("data"),
        "named volumes stay"
    );
}

#[test]
fn containers_on_a_user_network_resolve_each_other() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["network", "create", "kiln-test-net"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "kiln-test-net",
        "busybox",
        "sh",
        "-c",
        WEB,
    ]);
    let mut got = String::new();
    assert!(
        env.until(10, |e| {
            let o = e.out(&[
                "run",
                "--rm",
                "--network",
                "kiln-test-net",
                "busybox",
                "wget",
                "-q",
                "-O",
                "-",
                "http://srv/index.html",
            ]);
            got = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            got.contains("kiln-page")
        }),
        "{got}"
    );
    let refused = env.out(&["network", "rm", "kiln-test-net"]);
    assert!(!refused.status.success(), "a network in use is kept");
    env.ok(&["rm", "-f", "srv"]);
    env.ok(&["network", "rm", "kiln-test-net"]);
}

#[test]
fn the_monitor_survives_its_shell() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let script = format!(
        "{} --root {} run -d --name bg busybox sleep 1000",
        crate::support::bin().display(),
        env.kiln.root().display()
    );
    let mut shell = Command::new("sh");
    std::os::unix::process::CommandExt::process_group(&mut shell, 0);
    let child = shell
        .arg("-c")
        .arg(&script)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success());
    // the shell's whole process group hangs up, as when a terminal closes
    unsafe { libc_kill(-pgid, 1) };
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.status("bg"), "running");
    assert!(env.ok(&["exec", "bg", "true"]).is_empty());
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn a_killed_monitor_is_reported_and_rm_f_cleans() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "1000"]);
    let dir = env.dir_of("orphan");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
    let (monitor, pid) = (
        state["monitor_pid"].as_i64().unwrap(),
        state["pid"].as_i64().unwrap(),
    );
    unsafe { libc_kill(monitor as i32, 9) };
    assert!(env.until(5, |e| e.status("orphan") == "dead"));
    assert!(env.ok(&["ps", "-a"]).contains("Dead"));
    assert!(
        env.until(5, |_| !alive(pid)),
        "the container was left running"
    );
    env.ok(&["rm", "-f", "orphan"]);
    assert!(!dir.exists());
    assert!(env.ok(&["ps", "-aq"]).is_empty());
}

/// Alive and not a zombie (a reparented zombie waits for init to reap it).
fn alive(pid: i64) -> bool {
    let stat = u32::try_from(pid).ok().and_then(crate::support::proc_stat);
    let state = stat.as_ref().and_then(|f| f.first()).map(String::as_str);
    matches!(state, Some(s) if s != "Z" && s != "X")
}

#[test]
fn names_are_unique() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let id = env.ok(&["create", "--name", "one", "busybox"]);
    let o = env.out(&["create", "--name", "one", "busybox"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(id.trim()),
        "the error names the holder"
    );
    env.ok(&["rename", "one", "two"]);
    assert_eq!(env.inspect("two")["Name"], "/two");
    let bad = env.out(&["inspect", "nothing"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no such container or image"));
    // Docker's inspect falls back to an image when no container matches.
    assert_eq!(env.inspect("busybox")["Config"]["Cmd"][0], "sh");
}

#[test]
fn build_layers_hold_no_etc_mount_stubs() {
    if !privileged() {
        return;
    }
    // The busybox image has no /etc/hosts: the step's mount point for it
    // must not end up in the step's layer.
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN cat /etc/hostname > /seen\n",
    )
    .unwrap();
    let out = ctx.path().join("out");
    let dest = format!("type=local,dest={}", out.display());
    env.ok(&["build", "-q", "-o", &dest, ctx.path().to_str().unwrap()]);
    assert!(out.join("seen").metadata().unwrap().len() > 0);
    for f in ["hosts", "hostname", "resolv.conf"] {
        let path = out.join("etc").join(f);
        assert!(!path.exists(), "/etc/{f} stub left in the layer");
    }
}

#[test]
fn a_rootfs_run_keeps_the_etc_mounts_of_another_run_from_it() {
    if !privileged() {
        return;
    }
    // Two containers on one directory. The first creates the /etc mount
    // points, the second finds them there; the first's end must not
    // unlink them, since unlinking a mount point detaches the second's
    // mount in its namespace.
    let dir = tempfile::tempdir().unwrap();
    let rootfs = crate::support::make_busybox_rootfs(&dir.path().join("rootfs"));
    let kiln = Kiln::new();
    let start = |name: &str| {
        let script = format!(
            "touch /tmp/{name}.ready; until [ -e /tmp/{name}.go ]; do sleep 0.05; done; cat /etc/hostname"
        );
        let child = kiln
            .cmd(["run", "--rm", "-h", name, "--rootfs"])
            .arg(&rootfs)
            .args(["sh", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let ready = rootfs.join(format!("tmp/{name}.ready"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ready.exists(), "container {name} did not start");
        child
    };
    let finish = |name: &str, child: std::process::Child| {
        std::fs::write(rootfs.join(format!("tmp/{name}.go")), "").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{name}\n"));
        assert!(out.status.success(), "{name}: {:?}", out.status);
    };
    let first = start("first");
    let second = start("second");
    finish("first", first);
    finish("second", second);
    // What stays in the directory is the empty mount points, never the
    // generated contents.
    for f in ["hosts", "hostname", "resolv.conf"] {
        let len = rootfs.join("etc").join(f).metadata().map_or(0, |m| m.len());
        assert_eq!(len, 0, "/etc/{f} holds generated contents");
    }
}

#[test]
fn cp_refuses_to_escape_through_a_planted_symlink() {
    if !privileged() {
        return;
    }
    // why: a container's symlink must never make kiln read or write host files
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("secret");
    std::fs::write(&secret, "host-only").unwrap();
    let plant = format!(
        "echo mine > /etc/mine; ln -s {} /leak; ln -s ../../../../../../etc /up; exec sleep 1000",
        secret.display()
    );
    env.ok(&["run", "-d", "--name", "sly", "busybox", "sh", "-c", &plant]);
    assert!(env.until(5, |e| e
        .out(&["exec", "sly", "test", "-L", "/up"])
        .status
        .success()));
    let out = host.path().join("out");
    // a link is copied as the link itself (Docker's cp), never read through
    let _ = env.out(&["cp", "sly:/leak", out.to_str().unwrap()]);
    let meta = std::fs::symlink_metadata(&out).unwrap();
    assert!(
        meta.file_type().is_symlink(),
        "cp followed the container's link"
    );
    std::fs::remove_file(&out).unwrap();
    env.ok(&["cp", "sly:/up/mine", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine\n");
    let payload = host.path().join("payload");
    std::fs::write(&payload, "pwned").unwrap();
    let _ = env.out(&["cp", payload.to_str().unwrap(), "sly:/leak"]);
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "host-only",
        "cp wrote a host file"
    );
    env.ok(&["cp", payload.to_str().unwrap(), "sly:/up/dropped"]);
    assert_eq!(env.ok(&["exec", "sly", "cat", "/etc/dropped"]), "pwned");
}
