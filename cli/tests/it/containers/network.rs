//! Outbound traffic from containers on a user network: each has its own
//! slirp4netns beside its bridge address. The only outside target is a
//! server on the host's 127.0.0.1, reached at slirp's gateway 10.0.2.2
//! on a network created with `allow_host_loopback=true`. (No `wget -T`:
//! Debian's static busybox 1.35 segfaults with it.)

use super::{privileged, Env, WEB};
use crate::support::loopback_http_server as host_server;

fn wget_in(env: &Env, net: &str, url: &str) -> (bool, String) {
    let o = env.out(&[
        "run",
        "--rm",
        "--network",
        net,
        "busybox",
        "wget",
        "-T",
        "3",
        "-q",
        "-O",
        "-",
        url,
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

#[test]
fn user_network_containers_reach_the_host_and_each_other() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let port = host_server("hello-from-host");
    let host_url = format!("http://10.0.2.2:{port}/");
    env.ok(&[
        "network",
        "create",
        "-o",
        "allow_host_loopback=true",
        "kiln-out",
    ]);
    let ip = "--network";
    env.ok(&[
        "run", "-d", "--name", "web", ip, "kiln-out", "busybox", "sh", "-c", WEB,
    ]);
    let mut got = String::new();
    let both = format!("wget -qO- http://web/index.html && wget -qO- {host_url}");
    assert!(
        env.until(10, |e| {
            let o = e.out(&["run", "--rm", ip, "kiln-out", "busybox", "sh", "-c", &both]);
            got = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            got.contains("kiln-page") && got.contains("hello-from-host")
        }),
        "by name and outbound from one container:\n{got}"
    );

    // Without the option the host's loopback stays closed (Docker's
    // default), yet the way out is there: the default route is slirp's.
    env.ok(&["network", "create", "kiln-closed"]);
    let (ok, text) = wget_in(&env, "kiln-closed", &host_url);
    assert!(!ok, "the host's 127.0.0.1 was reachable:\n{text}");
    let routes = env.ok(&["run", "--rm", ip, "kiln-closed", "busybox", "ip", "route"]);
    assert!(routes.contains("default via 10.0.2.2 dev tap0"), "{routes}");
    assert!(routes.contains("dev eth0"), "{routes}");
    let bad = env.out(&["network", "create", "-o", "mtu=9000", "kiln-bad"]);
    assert!(!bad.status.success(), "an unknown option was accepted");
}
