//! `--log-driver`, `--log-opt` (rotation read back across files), `-a`
//! and `--sig-proxy`: what a foreground run shows, what `logs` reads and
//! Docker's refusals.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{kiln_with_busybox, privileged, Kiln};

/// A script printing `line0` … `line{n-1}`, one a line.
fn counting(n: u32) -> String {
    format!("i=0; while [ $i -lt {n} ]; do echo line$i; i=$((i+1)); done")
}

fn kiln(k: &Kiln, args: &[&str]) -> Output {
    k.cmd(args).stdin(Stdio::null()).output().expect("kiln")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn succeeded(k: &Kiln, args: &[&str]) -> String {
    let out = kiln(k, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The numbers of `lineN` lines, checked to be consecutive.
fn consecutive(out: &str) -> Vec<u32> {
    let numbers: Vec<u32> = out
        .lines()
        .map(|l| l.strip_prefix("line").unwrap().parse().unwrap())
        .collect();
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "out of order: {out}");
    }
    numbers
}

fn log_path(k: &Kiln, name: &str) -> PathBuf {
    PathBuf::from(succeeded(k, &["inspect", "-f", "{{.LogPath}}", name]).trim())
}

#[test]
fn a_rotated_log_keeps_max_file_files_and_reads_back_in_order() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let script = counting(300);
    let args = [
        "run",
        "--name",
        "rot",
        "--network",
        "none",
        "--log-opt",
        "max-size=1k,max-file=3",
        "busybox",
        "sh",
        "-c",
        &script,
    ];
    let shown = succeeded(&k, &args);
    assert_eq!(consecutive(&shown).len(), 300, "the run shows every line");
    let path = log_path(&k, "rot");
    let dir = path.parent().unwrap();
    for kept in ["container.log", "container.log.1", "container.log.2"] {
        assert!(dir.join(kept).exists(), "{kept} missing");
    }
    assert!(!dir.join("container.log.3").exists());
    let logs = succeeded(&k, &["logs", "rot"]);
    let numbers = consecutive(&logs);
    assert_eq!(numbers.last(), Some(&299));
    assert!(numbers[0] > 0, "the oldest lines are dropped");
    // ~14 entries of ~75 bytes fill 1k: three files hold 30 to 45 lines
    assert!((30..=45).contains(&numbers.len()), "{} kept", numbers.len());
    let tail = succeeded(&k, &["logs", "--tail", "20", "rot"]);
    assert_eq!(consecutive(&tail), (280..300).collect::<Vec<_>>());
    let config = succeeded(
        &k,
        &["inspect", "-f", "{{json .HostConfig.LogConfig}}", "rot"],
    );
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let want =
        serde_json::json!({"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3"}});
    assert_eq!(config, want);
}

#[test]
fn a_detached_container_rotates_and_logs_follows_to_its_end() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    // Slow enough for a follower's reads to see each file before the
    // next rotation drops it.
    let script =
        "sleep 0.3; i=0; while [ $i -lt 60 ]; do echo line$i; i=$((i+1)); sleep 0.02; done";
    let args = [
        "run",
        "-d",
        "--name",
        "det",
        "--network",
        "none",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        script,
    ];
    succeeded(&k, &args);
    let followed = succeeded(&k, &["logs", "-f", "det"]);
    assert_eq!(consecutive(&followed), (0..60).collect::<Vec<_>>());
    let path = log_path(&k, "det");
    assert!(path.with_file_name("container.log.1").exists());
    assert!(!path.with_file_name("container.log.2").exists());
    let later = consecutive(&succeeded(&k, &["logs", "det"]));
    assert_eq!(later.last(), Some(&59));
    assert!(later[0] > 0, "the oldest file was dropped");
}

#[test]
fn the_none_driver_writes_nothing_and_logs_says_it_cannot_read() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let args = [
        "run",
        "--name",
        "quiet",
        "--network",
        "none",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "shown",
    ];
    assert_eq!(succeeded(&k, &args), "shown\n");
    assert_eq!(
        log_path(&k, "quiet"),
        PathBuf::new(),
        "no LogPath, as Docker"
    );
    let id = succeeded(&k, &["inspect", "-f", "{{.Id}}", "quiet"]);
    let dir = k.root().join("containers").join(id.trim());
    assert!(dir.is_dir() && !dir.join("container.log").exists());
    let out = kiln(&k, &["logs", "quiet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("configured logging driver does not support reading"),
        "{}",
        text(&out.stderr)
    );
    let driver = succeeded(
        &k,
        &["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "quiet"],
    );
    assert_eq!(driver, "none\n");
}

#[test]
fn bad_drivers_options_and_attach_flags_are_refused() {
    let k = Kiln::new();
    let cases: [(&[&str], &str); 6] = [
        (&["--log-driver", "bogus"], "--log-driver"),
        (&["--log-driver", "syslog"], "--log-driver"),
        (&["--log-opt", "bogus=1"], "unknown log opt 'bogus'"),
        (&["--log-opt", "max-size=lots"], "--log-opt"),
        (
            &["--log-driver", "none", "--log-opt", "max-file=2"],
            "--log-opt",
        ),
        (&["-a", "stdsomething"], "STDIN, STDOUT and STDERR"),
    ];
    for (flags, named) in cases {
        let mut args = vec!["run", "--rm"];
        args.extend(flags);
        args.extend(["busybox", "true"]);
        let out = kiln(&k, &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
    let out = kiln(&k, &["run", "-d", "-a", "stdout", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Conflicting options: -a and -d"));
}

#[test]
fn attach_shows_only_the_named_streams_and_the_log_keeps_both() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let script = "echo out; echo err >&2";
    let base = ["run", "--network", "none"];
    let with = |attach: &[&str], name: &str| {
        let mut args = base.to_vec();
        args.extend(attach);
        args.extend(["--name", name, "busybox", "sh", "-c", script]);
        let out = kiln(&k, &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        (text(&out.stdout), text(&out.stderr))
    };
    let (out, err) = with(&["-a", "stdout"], "a1");
    assert_eq!(out, "out\n");
    assert!(!err.contains("err"), "{err}");
    let (out, err) = with(&["-a", "STDERR"], "a2");
    assert_eq!((out.as_str(), err.as_str()), ("", "err\n"));
    let (out, err) = with(&["-a", "Stdout", "--attach", "stderr"], "a3");
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    let logs = kiln(&k, &["logs", "a1"]);
    assert_eq!(
        (text(&logs.stdout).as_str(), text(&logs.stderr).as_str()),
        ("out\n", "err\n")
    );
}

#[test]
fn attach_stdin_forwards_the_input() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let mut child = k
        .cmd([
            "run",
            "--rm",
            "--network",
            "none",
            "-a",
            "stdin",
            "-a",
            "stdout",
        ])
        .args(["busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"through\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "through\n");
}

/// Starts a foreground run of `script` with `flags`, returns once it
/// printed `ready`, with the rest of its stdout still to read.
fn started(k: &Kiln, flags: &[&str], script: &str) -> (std::process::Child, Instant) {
    let mut child = k
        .cmd(["run", "--rm", "--network", "none"])
        .args(flags)
        .args(["busybox", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.as_mut().unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"ready\n") {
        assert_eq!(out.read(&mut byte).unwrap(), 1, "ended: {}", text(&seen));
        seen.push(byte[0]);
    }
    (child, Instant::now())
}

fn sigterm(child: &std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
}

const TRAPPING: &str = "trap 'echo got-term; exit 7' TERM; echo ready; sleep 2 & wait; echo done";

#[test]
fn without_sig_proxy_the_container_runs_to_its_own_end() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let (child, at) = started(&k, &["--sig-proxy=false"], TRAPPING);
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "done\n");
    assert_eq!(out.status.code(), Some(0));
    assert!(at.elapsed() >= Duration::from_millis(1500));
    // the default forwards it: the trap runs at once
    let (child, _) = started(&k, &[], TRAPPING);
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "got-term\n");
    assert_eq!(out.status.code(), Some(7));
}
