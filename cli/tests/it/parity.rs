//! Docker commands and flags that complete the everyday set: `network
//! connect`/`disconnect`, `run --platform`, `build --squash`.

use std::process::Output;

use crate::support::{kiln_with_busybox, ok, privileged, run, Cleanup, Kiln};

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// Whether `from` reaches `name` (resolved by its /etc/hosts) with one ping.
fn reaches(k: &Kiln, from: &str, name: &str) -> bool {
    let o = run(k, &["exec", from, "ping", "-c", "1", "-W", "2", name]);
    o.status.success()
}

fn refused(k: &Kiln, args: &[&str], code: i32, needle: &str) {
    let o = run(k, args);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o));
    assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
}

#[test]
fn a_running_container_is_connected_and_disconnected_live() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _c = Cleanup(&k, &["pa-web", "pa-peer", "pa-late"]);
    ok(&k, &["network", "create", "pa-net"]);
    for name in ["pa-web", "pa-peer"] {
        ok(
            &k,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "pa-net",
                "busybox",
                "sleep",
                "300",
            ],
        );
    }
    ok(
        &k,
        &["run", "-d", "--name", "pa-late", "busybox", "sleep", "300"],
    );
    assert!(reaches(&k, "pa-web", "pa-peer"), "the network's own pair");
    assert!(
        !reaches(&k, "pa-late", "pa-web"),
        "reached before connecting"
    );

    ok(
        &k,
        &[
            "network",
            "connect",
            "--alias",
            "late-alias",
            "pa-net",
            "pa-late",
        ],
    );
    assert!(reaches(&k, "pa-late", "pa-web"), "connected, by name");
    assert!(reaches(&k, "pa-web", "pa-late"), "reached back by name");
    assert!(reaches(&k, "pa-peer", "late-alias"), "reached by its alias");
    let on = ok(
        &k,
        &["inspect", "-f", "{{.HostConfig.NetworkMode}}", "pa-late"],
    );
    assert_eq!(on.trim(), "pa-net");
    refused(
        &k,
        &["network", "connect", "pa-net", "pa-late"],
        1,
        "already exists in network pa-net",
    );

    ok(&k, &["network", "disconnect", "pa-net", "pa-late"]);
    assert!(
        !reaches(&k, "pa-late", "pa-web"),
        "reached after disconnecting"
    );
    assert!(!reaches(&k, "pa-web", "pa-late"), "still reached by name");
    refused(
        &k,
        &["network", "disconnect", "pa-net", "pa-late"],
        1,
        "is not connected to network pa-net",
    );
    let leases = ok(
        &k,
        &["network", "inspect", "-f", "{{len .Containers}}", "pa-net"],
    );
    assert_eq!(leases.trim(), "2");
}

#[test]
fn a_created_container_starts_on_the_network_it_was_connected_to() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _c = Cleanup(&k, &["pc-web", "pc-made", "pc-other"]);
    ok(&k, &["network", "create", "pc-net"]);
    ok(&k, &["network", "create", "pc-net2"]);
    ok(
        &k,
        &[
            "run",
            "-d",
            "--name",
            "pc-web",
            "--network",
            "pc-net",
            "busybox",
            "sleep",
            "300",
        ],
    );
    ok(
        &k,
        &[
            "create",
            "--name",
            "pc-made",
            "--network",
            "none",
            "busybox",
            "sleep",
            "300",
        ],
    );
    ok(&k, &["network", "connect", "pc-net", "pc-made"]);
    ok(&k, &["start", "pc-made"]);
    assert!(reaches(&k, "pc-made", "pc-web"), "started on the network");
    assert!(reaches(&k, "pc-web", "pc-made"), "named on the network");

    refused(
        &k,
        &["network", "connect", "pc-net2", "pc-made"],
        1,
        "pc-net2",
    );
    refused(
        &k,
        &["network", "connect", "pc-nope", "pc-made"],
        1,
        "network pc-nope not found",
    );
    refused(
        &k,
        &["network", "connect", "pc-net", "pc-nope"],
        1,
        "No such container: pc-nope",
    );
    refused(
        &k,
        &["network", "disconnect", "pc-nope", "pc-made"],
        1,
        "network pc-nope not found",
    );
    refused(
        &k,
        &["network", "connect", "--alias", "a b", "pc-net2", "pc-web"],
        1,
        "pc-net2",
    );
    refused(&k, &["network", "connect", "pc-net"], 125, "");

    ok(
        &k,
        &[
            "create",
            "--name",
            "pc-other",
            "--network",
            "pc-net",
            "busybox",
            "true",
        ],
    );
    ok(&k, &["network", "disconnect", "pc-net", "pc-other"]);
    let mode = ok(
        &k,
        &["inspect", "-f", "{{.HostConfig.NetworkMode}}", "pc-other"],
    );
    assert_eq!(mode.trim(), "none");
}
