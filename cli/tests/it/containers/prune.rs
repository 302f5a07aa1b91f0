//! `kiln system df` counts containers and volumes from their state;
//! `kiln system prune` removes what no running container needs.

use std::io::Write;
use std::process::Stdio;

use super::{privileged, Env};

fn df_row(env: &Env, kind: &str) -> (u64, u64) {
    let out = env.ok(&["system", "df", "--format", "json"]);
    let row: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["Type"] == kind)
        .unwrap();
    (
        row["TotalCount"].as_u64().unwrap(),
        row["Active"].as_u64().unwrap(),
    )
}

#[test]
fn system_df_and_prune_follow_container_state() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]);
    env.ok(&["run", "--name", "done", "-v", "/anon", "busybox", "true"]);
    assert_eq!(df_row(&env, "Containers"), (2, 1));
    assert_eq!(df_row(&env, "Local Volumes"), (1, 1));
    // Without -f it asks, and "n" keeps everything.
    let mut ask = env
        .kiln
        .cmd(["system", "prune", "--volumes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ask.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let o = ask.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("Are you sure"));
    assert_eq!(df_row(&env, "Containers"), (2, 1));
    let out = env.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(df_row(&env, "Containers"), (1, 1));
    assert_eq!(df_row(&env, "Local Volumes"), (0, 0));
    assert_eq!(env.status("up"), "running");
    // The image a running container uses survives even -a.
    env.ok(&["system", "prune", "-af"]);
    env.ok(&["image", "inspect", "busybox"]);
}

/// `kiln ARGS…` with `answer` typed at the prompt: (stdout, stderr).
fn answered(env: &Env, args: &[&str], answer: &str) -> (String, String) {
    let mut child = env
        .kiln
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn names(env: &Env) -> Vec<String> {
    let mut all: Vec<String> = env
        .ok(&["ps", "-a", "--format", "json"])
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            row["Names"].as_str().unwrap().to_string()
        })
        .collect();
    all.sort();
    all
}

#[test]
fn container_prune_asks_and_filters() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--name", "old", "-l", "keep=yes", "busybox", "true"]);
    let web = env.ok(&[
        "create", "--name", "web1", "-l", "tier=web", "busybox", "true",
    ]);
    env.ok(&[
        "run", "--name", "web2", "--label", "tier=web", "busybox", "true",
    ]);
    env.ok(&[
        "run", "-d", "--name", "live", "-l", "tier=web", "busybox", "sleep", "1000",
    ]);
    let (_, err) = answered(&env, &["container", "prune"], "n\n");
    assert!(
        err.contains(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
        ),
        "{err}"
    );
    assert_eq!(names(&env), ["live", "old", "web1", "web2"], "n keeps all");
    let web_ps = env.ok(&["ps", "-aq", "--filter", "label=tier=web"]);
    assert_eq!(web_ps.lines().count(), 3, "{web_ps}");
    let (out, _) = answered(
        &env,
        &["container", "prune", "--filter", "label=tier=web"],
        "y\n",
    );
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains(web.trim()), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_eq!(names(&env), ["live", "old"]);
    for kept in [&["--filter", "until=1h"][..], &["--filter", "label!=keep"]] {
        let out = env.ok(&[&["container", "prune", "-f"][..], kept].concat());
        assert_eq!(out, "Total reclaimed space: 0B\n", "{kept:?}");
    }
    assert!(env.ok(&["inspect", "old"]).contains("\"keep\": \"yes\""));
    env.ok(&[
        "container",
        "prune",
        "-f",
        "--filter",
        "until=2000-01-01T00:00:00",
    ]);
    assert_eq!(names(&env), ["live", "old"], "created after 2000");
    env.ok(&["container", "prune", "-f"]);
    assert_eq!(names(&env), ["live"]);
    assert_eq!(env.status("live"), "running");
    let bad = env.out(&["container", "prune", "-f", "--filter", "status=exited"]);
    assert!(!bad.status.success(), "an unknown filter was accepted");
}

#[test]
fn volume_prune_asks_and_filters_by_label() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["volume", "create", "-l", "team=a", "va"]);
    env.ok(&["volume", "create", "vb"]);
    env.ok(&["run", "--name", "holder", "-v", "/anon", "busybox", "true"]);
    let vols = |env: &Env| -> Vec<String> {
        let mut v: Vec<String> = env
            .ok(&["volume", "ls", "-q"])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(vols(&env).len(), 3);
    let (_, err) = answered(&env, &["volume", "prune"], "\n");
    assert!(
        err.contains("WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "),
        "{err}"
    );
    assert_eq!(vols(&env).len(), 3, "no answer keeps all");
    // named volumes need -a; the anonymous one is its container's
    assert_eq!(
        env.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    let out = env.ok(&["volume", "prune", "-af", "--filter", "label=team=a"]);
    assert!(out.starts_with("Deleted Volumes:\nva\n"), "{out}");
    assert!(!env.out(&["volume", "inspect", "va"]).status.success());
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["volume", "inspect", "vb"])).unwrap();
    assert_eq!(v[0]["Labels"], serde_json::json!({}));
    env.ok(&["rm", "holder"]);
    env.ok(&["volume", "prune", "-f"]);
    assert_eq!(vols(&env), ["vb"]);
    let until = env.out(&["volume", "prune", "-f", "--filter", "until=1h"]);
    assert!(
        !until.status.success(),
        "volume prune takes no until (Docker)"
    );
}

#[test]
fn system_prune_filters_containers_and_images() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--name", "a", "-l", "tier=web", "busybox", "true"]);
    env.ok(&["run", "--name", "b", "busybox", "true"]);
    let out = env.ok(&["system", "prune", "-af", "--filter", "label=tier=web"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(
        !out.contains("Deleted Images"),
        "busybox has no such label:\n{out}"
    );
    assert_eq!(names(&env), ["b"]);
    env.ok(&["image", "inspect", "busybox"]);
}

#[test]
fn network_prune_keeps_networks_a_container_names() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["network", "create", "kept"]);
    env.ok(&["network", "create", "idle"]);
    env.ok(&["network", "create", "spare"]);
    // A stopped container still holds its network, as in Docker.
    env.ok(&[
        "create",
        "--name",
        "c",
        "--network",
        "kept",
        "busybox",
        "true",
    ]);
    let (_, err) = answered(&env, &["network", "prune"], "n\n");
    assert!(err.contains("not used by at least one container"), "{err}");
    assert!(env.ok(&["network", "ls", "-q"]).lines().count() == 3);
    let out = env.ok(&["network", "prune", "-f"]);
    assert!(out.starts_with("Deleted Networks:\n"), "{out}");
    let gone: Vec<&str> = out.lines().skip(1).filter(|l| !l.is_empty()).collect();
    assert_eq!(gone, ["idle", "spare"], "{out}");
    let names = env.ok(&["network", "ls"]);
    assert!(
        names.contains(" kept ") && !names.contains("idle"),
        "{names}"
    );
    // system prune removes the stopped container, then its network.
    let out = env.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Deleted Networks:\nkept\n"), "{out}");
}
