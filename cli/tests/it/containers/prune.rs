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
