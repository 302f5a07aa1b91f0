//! `--no-process-sandbox` (BuildKit's `--oci-worker-no-process-sandbox`):
//! containers and RUN steps share kiln's PID namespace and see its /proc,
//! for pods where a new /proc is refused. What a user sees: the warning on
//! every command, the shared namespace, and that processes a step or
//! container leaves behind still end with it.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::support::{self, kiln_with_busybox, output_text, privileged};

const WARNING: &str = "kiln: warning: --no-process-sandbox: containers and RUN steps share";

fn own_pid_namespace() -> String {
    let link = std::fs::read_link("/proc/self/ns/pid").expect("own pid namespace");
    link.display().to_string()
}

/// Runs `cmd` to its end, failing the test if it has not ended in two
/// minutes (a step whose leftover child kept its output open would hang).
fn finished(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn kiln");
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("wait"));
    let start = Instant::now();
    while !waiter.is_finished() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{cmd:?} did not end: its step's leftover process held it");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    waiter.join().expect("waiter")
}

/// Processes whose command line is exactly `words`.
fn processes_running(words: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = words
        .iter()
        .flat_map(|w| [w.as_bytes(), b"\0"].concat())
        .collect();
    let entries = std::fs::read_dir("/proc").expect("/proc");
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

#[test]
fn without_the_process_sandbox_a_container_shares_kilns_pid_namespace_and_says_so() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ns = |flag: Option<&str>, env: bool| {
        let mut cmd = k.cmd(flag);
        cmd.args(["run", "--rm", "busybox", "readlink", "/proc/self/ns/pid"]);
        if env {
            cmd.env("KILN_NO_PROCESS_SANDBOX", "1");
        }
        let out = cmd.output().expect("kiln run");
        assert!(out.status.success(), "{}", output_text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (stdout, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let ours = own_pid_namespace();

    let (sandboxed, stderr) = ns(None, false);
    assert_ne!(sandboxed, ours, "a sandboxed container has its own");
    assert!(!stderr.contains(WARNING), "{stderr}");

    for (flag, env) in [(Some("--no-process-sandbox"), false), (None, true)] {
        let (shared, stderr) = ns(flag, env);
        assert_eq!(shared, ours, "flag {flag:?}, env {env}");
        assert!(stderr.contains(WARNING), "no warning: {stderr}");
    }
}

#[test]
fn without_the_process_sandbox_a_step_ends_with_what_it_left_running() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    // A number no other test sleeps for, to find the step's leftover by.
    let seconds = (700_000 + std::process::id()).to_string();
    let ctx = tempfile::tempdir().expect("context");
    let dockerfile = format!(
        "FROM busybox\n\
         RUN sleep {seconds} & readlink /proc/self/ns/pid > /pidns; echo started\n\
         RUN cat /pidns\n\
         RUN m=$PPID; k=$(awk '/^PPid/ {{print $2}}' /proc/$m/status); \
             for p in $m $k; do \
               cat /proc/$p/environ >/dev/null 2>&1 && echo LEA''KED environ of $p; \
               ls /proc/$p/root/ >/dev/null 2>&1 && echo LEA''KED root of $p; \
             done; echo checked $m $k\n"
    );
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).expect("Dockerfile");
    let out = finished(
        k.cmd([
            "--no-process-sandbox",
            "build",
            "--progress",
            "plain",
            "-t",
            "left",
        ])
        .arg(ctx.path()),
    );
    let log = output_text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains(WARNING), "{log}");
    assert!(
        log.contains(&own_pid_namespace()),
        "the step's PID namespace:\n{log}"
    );
    // Sharing the PID namespace is not sharing kiln's privileges: a step
    // with Docker's default capabilities cannot read the memory,
    // environment or root of its helper or of kiln, which hold more.
    assert!(log.contains("checked "), "{log}");
    // (The step's line shows LEA''KED, its output LEAKED.)
    assert!(
        !log.contains("LEAKED"),
        "a step read kiln's process:\n{log}"
    );
    let left = processes_running(&["sleep", &seconds]);
    assert!(
        left.is_empty(),
        "the step's background sleep lives on: {left:?}"
    );

    // A container's too, when it is removed.
    let script = format!("sleep {seconds} & exec sleep 1000");
    support::ok(
        &k,
        &[
            "--no-process-sandbox",
            "run",
            "-d",
            "--name",
            "bg",
            "busybox",
            "sh",
            "-c",
            &script,
        ],
    );
    let start = Instant::now();
    while processes_running(&["sleep", &seconds]).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the container's sleep never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    support::ok(&k, &["rm", "-f", "bg"]);
    let start = Instant::now();
    while !processes_running(&["sleep", &seconds]).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the container's sleep lives on"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
