//! The rest of the lifecycle list end to end: `restart`, `wait`, `kill -s`,
//! `--restart always|unless-stopped`, `run -d --rm`, `exec -d`, `ps -n/-q`,
//! `logs --since`, `-P`, `VOLUME` in an image, and the overlay of a
//! `--rm` container.

use std::time::Duration;

use super::{http_get, privileged, Env, WEB};

fn field(env: &Env, name: &str, path: &[&str]) -> serde_json::Value {
    let mut v = env.inspect(name);
    for p in path {
        v = v[*p].clone();
    }
    v
}

#[test]
fn restart_wait_and_kill_with_a_signal() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "r", "busybox", "sleep", "1000"]);
    let pid = field(&env, "r", &["State", "Pid"]);
    let started = field(&env, "r", &["State", "StartedAt"]);
    env.ok(&["restart", "-t", "1", "r"]);
    assert_eq!(env.status("r"), "running");
    assert_ne!(field(&env, "r", &["State", "Pid"]), pid, "a new process");
    assert_ne!(field(&env, "r", &["State", "StartedAt"]), started);

    env.ok(&[
        "run",
        "-d",
        "--name",
        "w",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; exit 7",
    ]);
    assert_eq!(env.ok(&["wait", "w"]), "7\n");

    let trap = "trap 'echo got-usr1; exit 3' USR1; while true; do sleep 0.1; done";
    env.ok(&["run", "-d", "--name", "k", "busybox", "sh", "-c", trap]);
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["kill", "-s", "USR1", "k"]);
    assert_eq!(env.ok(&["wait", "k"]), "3\n");
    assert_eq!(env.ok(&["logs", "k"]), "got-usr1\n");
    let bad = env.out(&["kill", "-s", "NOPE", "r"]);
    assert!(!bad.status.success(), "an unknown signal was accepted");
}

#[test]
fn always_and_unless_stopped_restart_until_stopped() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    for policy in ["always", "unless-stopped"] {
        let name = format!("p-{policy}");
        env.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--restart",
            policy,
            "busybox",
            "sh",
            "-c",
            "sleep 0.2; exit 0",
        ]);
        let count = |e: &Env| field(e, &name, &["RestartCount"]).as_u64().unwrap_or(0);
        assert!(
            env.until(10, |e| count(e) >= 2),
            "{policy}: restarts even after exit 0"
        );
        env.ok(&["stop", "-t", "1", &name]);
        let after = count(&env);
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(env.status(&name), "exited", "{policy}");
        assert_eq!(count(&env), after, "{policy}: restarted after stop");
    }
}

#[test]
fn detached_rm_removes_the_container_and_its_anonymous_volume() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run", "-d", "--rm", "--name", "brief", "-v", "/scratch", "busybox", "sleep", "0.3",
    ]);
    assert!(
        env.until(10, |e| !e.out(&["inspect", "brief"]).status.success()),
        "--rm -d left the container"
    );
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "", "its volume stayed");
}

#[test]
fn wait_on_a_detached_rm_container_gets_its_status_before_the_removal() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    // The removal follows the exit at once; the wait must not lose it.
    for _ in 0..4 {
        let id = env.ok(&[
            "run",
            "-d",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "sleep 0.2; exit 3",
        ]);
        assert_eq!(env.ok(&["wait", id.trim()]), "3\n");
    }
    assert!(
        env.until(10, |e| e.ok(&["ps", "-aq"]).is_empty()),
        "--rm left a container"
    );
}

#[test]
fn exec_detached_ps_limits_and_logs_since() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let script = "echo early; sleep 3; echo late; exec sleep 1000";
    env.ok(&["run", "-d", "--name", "first", "busybox", "sleep", "1000"]);
    let id = env.ok(&[
        "run", "-d", "--name", "chatty", "busybox", "sh", "-c", script,
    ]);
    // exec -d returns at once; its effect shows up a moment later
    env.ok(&[
        "exec",
        "-d",
        "first",
        "sh",
        "-c",
        "sleep 0.2; echo done > /tmp/flag",
    ]);
    assert!(env.until(5, |e| e
        .out(&["exec", "first", "cat", "/tmp/flag"])
        .status
        .success()));
    let last = env.ok(&["ps", "-n", "1", "-q", "--no-trunc"]);
    assert_eq!(last.trim(), id.trim(), "ps -n 1 is the newest");
    assert_eq!(env.ok(&["ps", "-q"]).lines().count(), 2);
    assert!(env.until(5, |e| e.ok(&["logs", "chatty"]).contains("early")));
    let mark = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    assert!(env.until(10, |e| e.ok(&["logs", "chatty"]).contains("late")));
    assert_eq!(env.ok(&["logs", "--since", &mark, "chatty"]), "late\n");
}

#[test]
fn publish_all_maps_exposed_ports() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "base",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo kiln-page > /www/index.html",
    ]);
    env.ok(&["commit", "-c", "EXPOSE 80", "base", "web:exposed"]);
    env.ok(&[
        "run",
        "-d",
        "-P",
        "--name",
        "pub",
        "web:exposed",
        "sh",
        "-c",
        WEB,
    ]);
    let mapping = env.ok(&["port", "pub", "80"]);
    let port: u16 = mapping
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no host port in {mapping:?}"));
    assert!(port > 1024, "{mapping}");
    let mut got = String::new();
    assert!(
        env.until(10, |_| {
            got = http_get(port, "/index.html").unwrap_or_default();
            got.contains("kiln-page")
        }),
        "{got}"
    );
}

#[test]
fn image_volume_is_anonymous_seeded_and_removed_with_rm_v() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "maker",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo seeded > /data/seed.txt",
    ]);
    env.ok(&["commit", "-c", "VOLUME /data", "maker", "withvol"]);
    env.ok(&[
        "run",
        "--name",
        "user",
        "withvol",
        "sh",
        "-c",
        "echo more >> /data/seed.txt",
    ]);
    let mounts = field(&env, "user", &["Mounts"]);
    assert_eq!(mounts[0]["Destination"], "/data", "{mounts}");
    assert_eq!(mounts[0]["Type"], "volume", "{mounts}");
    let name = mounts[0]["Name"].as_str().unwrap().to_string();
    let data = mounts[0]["Source"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(format!("{data}/seed.txt")).unwrap(),
        "seeded\nmore\n",
        "seeded from the image, then written by the container"
    );
    assert_eq!(env.ok(&["volume", "ls", "-q"]).trim(), name);
    env.ok(&["rm", "-v", "user"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "", "rm -v left it");
}

#[test]
fn only_a_throwaway_container_skips_the_sync_of_its_overlay() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let root_options = "awk '$2 == \"/\" { print $4 }' /proc/mounts";
    let thrown = env.ok(&["run", "--rm", "busybox", "sh", "-c", root_options]);
    assert!(thrown.contains("volatile"), "{thrown}");
    let kept = env.ok(&["run", "--name", "kept", "busybox", "sh", "-c", root_options]);
    assert!(kept.contains("upperdir="), "{kept}");
    assert!(!kept.contains("volatile"), "{kept}");
}
