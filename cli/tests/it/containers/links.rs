//! `--link C:ALIAS`: the /etc/hosts entry and Docker's link variables.

use super::{privileged, Env};

#[test]
fn link_adds_a_hosts_entry_and_variables() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "-e",
        "SECRET=s3",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = env.inspect("db")["Id"].as_str().unwrap()[..12].to_string();
    let seen = env.ok(&[
        "run",
        "--rm",
        "--name",
        "app",
        "--link",
        "db:store",
        "busybox",
        "sh",
        "-c",
        "grep -w store /etc/hosts; echo $STORE_NAME $STORE_ENV_SECRET",
    ]);
    let mut lines = seen.lines();
    let hosts: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(hosts[1..], ["store", "db", id.as_str()], "{seen}");
    assert_eq!(lines.next(), Some("/app/store s3"), "{seen}");
}
