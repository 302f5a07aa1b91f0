//! Hostile sizes: a huge Dockerfile plans in bounded work, and Ctrl-C or
//! SIGTERM stops kiln while it plans. No clock decides a result here: a
//! test only bounds how long it waits, far above what the behaviour needs.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::{privileged, Kiln};

/// `FROM scratch`, a `RUN false` that cannot start (scratch has no
/// /bin/sh), then `lines - 1` more RUN lines.
fn run_heavy(dir: &Path, lines: usize) -> std::path::PathBuf {
    let mut text = String::with_capacity(lines * 16);
    text.push_str("FROM scratch\nRUN false\n");
    for i in 1..lines {
        text.push_str("RUN true ");
        text.push_str(&i.to_string());
        text.push('\n');
    }
    let path = dir.join("Dockerfile");
    std::fs::write(&path, text).expect("write Dockerfile");
    path
}

/// Waits for `child` up to `limit`; kills it and fails past that.
fn wait_at_most(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let began = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if began.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running {limit:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{name} failed");
}

/// Starts `kiln build` on a million-line file (seconds of planning in a
/// test build), signals it 200 ms in, and checks it stopped before it
/// reached the first step, with kiln's code for a cancelled build and a
/// store that passes `cache check`.
fn stops_while_planning(sig: &str) {
    let k = Kiln::new();
    let d = tempfile::tempdir().expect("tempdir");
    let df = run_heavy(d.path(), 1_000_000);
    let mut child = k
        .cmd(["build", "--progress=plain", "-f"])
        .arg(&df)
        .arg(d.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln build");
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, sig);
    let status = wait_at_most(&mut child, Duration::from_secs(20), "kiln build");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(130), "{status:?}\n{stderr}");
    assert!(stderr.contains("build cancelled"), "{stderr}");
    // Planning never finished: the first step never started.
    assert!(!stderr.contains("RUN false"), "{stderr}");
    let check = k.cmd(["cache", "check"]).output().expect("cache check");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn sigint_stops_a_build_while_it_plans() {
    stops_while_planning("INT");
}

#[test]
fn sigterm_stops_a_build_while_it_plans() {
    stops_while_planning("TERM");
}

/// `kiln check` writes nothing: SIGINT ends it by the default action.
#[test]
fn sigint_stops_check_on_a_huge_file() {
    let d = tempfile::tempdir().expect("tempdir");
    let df = run_heavy(d.path(), 1_000_000);
    let mut child = Kiln::new()
        .cmd(["check", "-f"])
        .arg(&df)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kiln check");
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "INT");
    let status = wait_at_most(&mut child, Duration::from_secs(20), "kiln check");
    // Either it finished first (a fast machine) or SIGINT ended it.
    assert!(
        status.success() || status.signal() == Some(2) || status.code() == Some(130),
        "{status:?}"
    );
}

/// 20,000 RUN lines plan and reach their first step: before planning was
/// linear this took gigabytes and minutes (1,000 lines: 450 MB).
#[test]
fn twenty_thousand_run_lines_reach_their_first_step() {
    if !privileged() {
        return;
    }
    let k = Kiln::new();
    let d = tempfile::tempdir().expect("tempdir");
    let df = run_heavy(d.path(), 20_000);
    let out = k
        .cmd(["build", "--progress=plain", "-f"])
        .arg(&df)
        .arg(d.path())
        .output()
        .expect("kiln build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[stage-0 2/20001] RUN false"),
        "the first step did not start: {stderr}"
    );
}
