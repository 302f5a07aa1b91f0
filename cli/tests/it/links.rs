//! `--link` between two containers on the default network: the alias and
//! the target's name answer, the link variables name the address that
//! answers, and the network kiln keeps for them goes with the last of
//! them. Docker's refusals: a target that is missing or not running, and
//! host networking.

use std::time::{Duration, Instant};

use crate::support::{kiln_with_busybox, ok, privileged, run, Cleanup, Kiln};

/// The hidden network's name, as `network create` refuses it.
const LINK_NETWORK: &str = "kiln-default-links";

/// A detached `db` serving "hello" on port 80 (exposed, for the variables).
fn start_db(k: &Kiln) {
    ok(
        k,
        &[
            "run",
            "-d",
            "--name",
            "db",
            "--expose",
            "80",
            "busybox",
            "sh",
            "-c",
            "mkdir /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www",
        ],
    );
}

/// The script a linking container runs: retries while httpd starts.
const FETCH: &str = "get() { for i in $(seq 50); do wget -qO- \"http://$1/\" && return; sleep 0.1; done; echo \"no answer from $1\"; }";

fn mounts_naming(k: &Kiln) -> Vec<String> {
    let root = k.root().to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&root))
        .map(str::to_string)
        .collect()
}

fn wait_exited(k: &Kiln, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let status = ok(k, &["inspect", "-f", "{{.State.Status}}", name]);
        if status.trim() == "exited" {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} did not exit");
}

#[test]
fn a_link_on_the_default_network_reaches_the_target() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _cleanup = Cleanup(&k, &["db", "app"]);
    start_db(&k);
    let script = format!(
        "{FETCH}; get dbalias; get db; echo $DBALIAS_PORT_80_TCP_ADDR; get $DBALIAS_PORT_80_TCP_ADDR; \
         ip route | grep -c '^default'"
    );
    let out = ok(
        &k,
        &[
            "run",
            "--rm",
            "--name",
            "app",
            "--link",
            "db:dbalias",
            "busybox",
            "sh",
            "-c",
            &script,
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], "hello", "through the alias: {out}");
    assert_eq!(lines[1], "hello", "through the target's name: {out}");
    let addr = lines[2];
    assert!(
        addr.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| !a.is_loopback()),
        "{out}"
    );
    assert_eq!(lines[3], "hello", "through the variable's address: {out}");
    assert_eq!(lines[4], "1", "the outbound route is kept: {out}");

    // The network is kiln's own: not listed, not creatable.
    let listed = ok(&k, &["network", "ls"]);
    assert!(!listed.contains(LINK_NETWORK), "{listed}");
    let made = run(&k, &["network", "create", LINK_NETWORK]);
    assert!(!made.status.success(), "{made:?}");

    ok(&k, &["rm", "-f", "db"]);
    let listed = ok(&k, &["network", "ls"]);
    assert!(!listed.contains(LINK_NETWORK), "{listed}");
    assert!(
        !k.root().join("networks").join(LINK_NETWORK).exists(),
        "the link network's directory is left"
    );
    assert_eq!(
        mounts_naming(&k),
        Vec::<String>::new(),
        "mounts left behind"
    );
}

#[test]
fn a_detached_linking_container_keeps_the_network_until_it_goes() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _cleanup = Cleanup(&k, &["db", "app"]);
    start_db(&k);
    let script = format!("{FETCH}; get store > /got; exec sleep 1000");
    ok(
        &k,
        &[
            "run", "-d", "--name", "app", "--link", "db:store", "busybox", "sh", "-c", &script,
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = String::new();
    while Instant::now() < deadline && got.is_empty() {
        got =
            String::from_utf8_lossy(&run(&k, &["exec", "app", "cat", "/got"]).stdout).into_owned();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(got, "hello\n");
    ok(&k, &["rm", "-f", "db"]);
    // The linking container still stands on it.
    assert!(k.root().join("networks").join(LINK_NETWORK).exists());
    ok(&k, &["rm", "-f", "app"]);
    assert!(!k.root().join("networks").join(LINK_NETWORK).exists());
    assert_eq!(
        mounts_naming(&k),
        Vec::<String>::new(),
        "mounts left behind"
    );
}

#[test]
fn links_are_refused_as_docker_refuses_them() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _cleanup = Cleanup(&k, &["db", "done", "lone"]);
    let refused = |args: &[&str], message: &str| {
        let out = run(&k, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    };
    // An alias is one word of an /etc/hosts line: no line of its own.
    refused(
        &[
            "run",
            "--rm",
            "--link",
            "db:x\n10.0.0.1 evil",
            "busybox",
            "true",
        ],
        "--link",
    );
    refused(
        &["run", "--rm", "--link", "a:b:c", "busybox", "true"],
        "bad format for links",
    );
    refused(
        &["run", "--rm", "--link", "nosuch:x", "busybox", "true"],
        "could not get container for nosuch: No such container: nosuch",
    );
    ok(&k, &["run", "-d", "--name", "done", "busybox", "true"]);
    wait_exited(&k, "done");
    refused(
        &[
            "run", "--rm", "--name", "app", "--link", "done:d", "busybox", "true",
        ],
        "Cannot link to a non running container: /done AS /app/d",
    );
    start_db(&k);
    // Docker's client puts --link on the network --network names.
    for network in ["host", "none", "bridge"] {
        refused(
            &[
                "run",
                "--rm",
                "--network",
                network,
                "--link",
                "db",
                "busybox",
                "true",
            ],
            "links are only supported for user-defined networks",
        );
    }
    ok(
        &k,
        &[
            "run",
            "-d",
            "--name",
            "lone",
            "--network",
            "none",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    refused(
        &["run", "--rm", "--link", "lone", "busybox", "true"],
        "Cannot link to /lone, as it does not belong to the default network",
    );
    // Nothing above needed the link network.
    assert!(!k.root().join("networks").join(LINK_NETWORK).exists());
}

#[test]
fn linking_containers_made_at_once_both_reach_the_target() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _cleanup = Cleanup(&k, &["db"]);
    start_db(&k);
    let script = format!("{FETCH}; get dbalias");
    let spawn = || {
        k.cmd([
            "run",
            "--rm",
            "--link",
            "db:dbalias",
            "busybox",
            "sh",
            "-c",
            &script,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n", "{out:?}");
    }
}
