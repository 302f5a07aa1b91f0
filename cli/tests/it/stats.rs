//! `kiln stats`: Docker's table of what running containers use, once
//! (`--no-stream`) or redrawn every second.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{kiln_with_busybox, ok, privileged, Cleanup};

#[test]
fn no_stream_shows_one_table_of_running_containers() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["busy", "idle", "done"]);
    let id = ok(
        &k,
        &[
            "run",
            "-d",
            "--name",
            "busy",
            "-m",
            "64m",
            "busybox",
            "sh",
            "-c",
            "while :; do :; done",
        ],
    );
    ok(
        &k,
        &["run", "-d", "--name", "idle", "busybox", "sleep", "1000"],
    );
    ok(&k, &["create", "--name", "done", "busybox", "true"]);
    let out = ok(&k, &["stats", "--no-stream"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("CONTAINER ID"), "{out}");
    for h in [
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(lines[0].contains(h), "{h} in {out}");
    }
    assert!(!out.contains("done"), "a stopped container is shown: {out}");
    let busy = lines
        .iter()
        .find(|l| l.contains(" busy "))
        .expect("busy row");
    assert!(busy.starts_with(&id.trim()[..12]), "{busy}");
    assert!(busy.contains(" / 64MiB "), "the memory limit: {busy}");
    let cpu: f64 = busy
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(cpu > 20.0, "a spinning shell uses CPU: {busy}");
    let pids = busy.split_whitespace().last().unwrap();
    assert_eq!(pids, "1", "{busy}");
    assert!(lines.iter().any(|l| l.contains(" idle ")), "{out}");
    let all = ok(&k, &["stats", "--no-stream", "-a", "done"]);
    assert!(all.lines().nth(1).unwrap().contains("0.00%"), "{all}");
    assert!(all.contains("0B / 0B"), "{all}");
}

#[test]
fn format_and_unknown_containers() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["web"]);
    ok(
        &k,
        &["run", "-d", "--name", "web", "busybox", "sleep", "1000"],
    );
    let out = ok(
        &k,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "web",
        ],
    );
    assert_eq!(out, "web 1\n");
    let table = ok(
        &k,
        &[
            "stats",
            "--no-stream",
            "--format",
            "table {{.Name}}\t{{.PIDs}}",
            "web",
        ],
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines, ["NAME      PIDS", "web       1"], "{table}");
    let out = ok(&k, &["stats", "--no-stream", "--format", "json", "web"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["PIDs"], "1");
    let out = ok(
        &k,
        &["stats", "--no-stream", "--format", "{{json .}}", "web"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Name"], "web");
    assert!(v["MemUsage"].as_str().unwrap().contains(" / "), "{v}");
    let out = k.cmd(["stats", "--no-stream", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"));
}

#[test]
fn the_live_view_redraws_every_second() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["live"]);
    ok(
        &k,
        &["run", "-d", "--name", "live", "busybox", "sleep", "1000"],
    );
    let mut child = k
        .cmd(["stats", "live"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    // Three headers: the first two frames are whole.
    while seen.matches("CONTAINER ID").count() < 3 && Instant::now() < deadline {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let frames: Vec<&str> = seen
        .split("\x1b[2J\x1b[H")
        .filter(|f| !f.is_empty())
        .collect();
    assert!(frames.len() >= 2, "two frames: {seen:?}");
    for f in &frames[..2] {
        assert!(f.starts_with("CONTAINER ID"), "{f:?}");
        assert!(f.contains(" live "), "{f:?}");
    }
}
