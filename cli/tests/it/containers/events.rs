//! `kiln events`: the journal of what happened to containers and volumes,
//! read back in order with Docker's fields, selected by time and filter,
//! safe against concurrent writers and damaged lines.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{privileged, Env};

/// Every journaled event so far that `filters` select, one line each,
/// printed with `format` (Docker's default line without one).
fn events(env: &Env, filters: &[&str], format: Option<&str>) -> Vec<String> {
    let mut args = vec!["events", "--since", "0", "--until", "0s"];
    for f in filters {
        args.extend(["--filter", f]);
    }
    if let Some(f) = format {
        args.extend(["--format", f]);
    }
    env.ok(&args).lines().map(String::from).collect()
}

fn unix_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

#[test]
fn a_containers_life_is_journaled_in_order() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let id = env.ok(&[
        "create", "--name", "ev", "--label", "tier=web", "busybox", "sleep", "1000",
    ]);
    let id = id.trim();
    env.ok(&["start", "ev"]);
    env.ok(&["stop", "-t", "1", "ev"]);
    env.ok(&["rm", "ev"]);
    let format = "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{.Actor.Attributes.image}}";
    let got = events(&env, &[&format!("container={id}")], Some(format));
    let want: Vec<String> = ["create", "start", "kill", "die", "stop", "destroy"]
        .iter()
        .map(|a| format!("container {a} {id} ev busybox"))
        .collect();
    assert_eq!(got, want);
    // Docker's default line: time, type, action, ID, sorted attributes.
    let lines = events(&env, &["container=ev", "event=create"], None);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (time, rest) = lines[0].split_once(' ').unwrap();
    assert_eq!(time.len(), "2026-12-06T22:30:00.123456789Z".len(), "{time}");
    assert!(time.ends_with('Z'), "{time}");
    assert_eq!(
        rest,
        format!("container create {id} (image=busybox, name=ev, tier=web)")
    );
    // A foreground run's exit, with its code; --rm's removal.
    env.out(&[
        "run", "--rm", "--name", "fg", "busybox", "sh", "-c", "exit 3",
    ]);
    let fg = events(
        &env,
        &["container=fg"],
        Some(r#"{{.Action}} {{index .Actor.Attributes "exitCode"}}"#),
    );
    assert_eq!(
        fg,
        [
            "create <no value>",
            "start <no value>",
            "die 3",
            "destroy <no value>"
        ]
    );
}

#[test]
fn a_detached_containers_exit_is_journaled_once() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "bg", "busybox", "sh", "-c", "exit 7"]);
    assert!(env.until(10, |e| e.status("bg") == "exited"));
    let die = ["container=bg", "event=die"];
    let code = Some(r#"{{index .Actor.Attributes "exitCode"}}"#);
    assert_eq!(events(&env, &die, code), ["7"]);
    // Looked at again (and by another command), it is not journaled twice.
    env.ok(&["wait", "bg"]);
    assert_eq!(events(&env, &die, code), ["7"]);
    // rm -f of a running one: killed, dead, destroyed.
    env.ok(&["run", "-d", "--name", "rf", "busybox", "sleep", "1000"]);
    env.ok(&["rm", "-f", "rf"]);
    let life = events(
        &env,
        &["container=rf"],
        Some(r#"{{.Action}} {{index .Actor.Attributes "signal"}}"#),
    );
    assert_eq!(
        life,
        [
            "create <no value>",
            "start <no value>",
            "kill 9",
            "die <no value>",
            "destroy <no value>"
        ]
    );
}

#[test]
fn since_until_and_filters_select() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["volume", "create", "early"]);
    std::thread::sleep(Duration::from_millis(50));
    let between = unix_now();
    std::thread::sleep(Duration::from_millis(50));
    env.ok(&["volume", "create", "late"]);
    env.ok(&["volume", "rm", "late"]);
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["events", "--format", "{{.Action}} {{.Actor.ID}}"];
        all.extend(args);
        env.ok(&all).lines().map(String::from).collect()
    };
    let type_volume = ["--filter", "type=volume"];
    let mut since = vec!["--since", &between, "--until", "0s"];
    since.extend(type_volume);
    assert_eq!(ids(&since), ["create late", "destroy late"]);
    let mut until = vec!["--since", "0", "--until", &between];
    until.extend(type_volume);
    assert_eq!(ids(&until), ["create early"]);
    let destroyed = events(
        &env,
        &["type=volume", "event=destroy"],
        Some("{{.Actor.ID}}"),
    );
    assert_eq!(destroyed, ["late"]);
    assert!(events(&env, &["type=network"], None).is_empty());
    let json = events(&env, &["volume=early"], Some("{{json .}}"));
    let doc: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
    assert_eq!(doc["Type"], "volume");
    assert_eq!(doc["Action"], "create");
    assert_eq!(doc["Actor"]["ID"], "early");
    assert!(doc["timeNano"].as_i64().unwrap() > 0);
    let bad = env.out(&["events", "--until", "0s", "--filter", "status=up"]);
    assert!(!bad.status.success());
}

#[test]
fn two_processes_appending_at_once_lose_no_line() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let names: Vec<Vec<String>> = (0..2)
        .map(|p| (0..60).map(|i| format!("v{p}-{i}")).collect())
        .collect();
    for batch in &names {
        let mut args = vec!["volume", "create"];
        for n in batch {
            args.truncate(2);
            args.push(n);
            env.ok(&args);
        }
    }
    // Each `volume rm` journals one line per volume, both at once.
    let removers: Vec<_> = names
        .iter()
        .map(|batch| {
            let mut cmd = env.kiln.cmd(["volume", "rm"]);
            cmd.args(batch).stdout(Stdio::null());
            cmd.spawn().unwrap()
        })
        .collect();
    for mut r in removers {
        assert!(r.wait().unwrap().success());
    }
    let mut gone = events(
        &env,
        &["type=volume", "event=destroy"],
        Some("{{.Actor.ID}}"),
    );
    gone.sort();
    let mut want: Vec<String> = names.concat();
    want.sort();
    assert_eq!(gone, want);
}

#[test]
fn a_corrupt_line_in_the_journal_is_skipped() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["volume", "create", "one"]);
    let journal = env.kiln.root().join("events.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    f.write_all(b"{\"Type\":\"volume\",\"Acti\n\x00\xff garbage\n[]\n")
        .unwrap();
    env.ok(&["volume", "create", "two"]);
    let got = events(&env, &["type=volume"], Some("{{.Actor.ID}}"));
    assert_eq!(got, ["one", "two"]);
}

#[test]
fn without_until_events_follow() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["volume", "create", "before"]);
    let format = "{{.Type}} {{.Action}} {{.Actor.ID}}";
    let mut follower = env
        .kiln
        .cmd(["events", "--format", format])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    // Past events are not shown without --since; new ones are, and the
    // exit of a detached container no command looked at.
    std::thread::sleep(Duration::from_millis(500));
    env.ok(&["volume", "create", "after"]);
    let id = env.ok(&["run", "-d", "busybox", "sh", "-c", "exit 4"]);
    let mut seen = Vec::new();
    let die = format!("container die {}", id.trim());
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        seen.push(line);
        if seen.last() == Some(&die) {
            break;
        }
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert_eq!(
        seen.first().map(String::as_str),
        Some("volume create after")
    );
    assert_eq!(seen.last(), Some(&die), "{seen:?}");
}
