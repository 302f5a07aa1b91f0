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

/// The slirp4netns processes: pid, parent pid, arguments.
fn slirp_processes() -> Vec<(u32, u32, Vec<String>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let (Ok(cmdline), Some(stat)) = (
            std::fs::read(entry.path().join("cmdline")),
            crate::support::proc_stat(pid),
        ) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.first().is_some_and(|a| a.ends_with("slirp4netns")) {
            continue;
        }
        let ppid = stat.get(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        found.push((pid, ppid, args));
    }
    found
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn slirp4netns_is_gone_when_a_foreground_run_returns() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let mut child = env
        .kiln
        .cmd(["run", "--rm", "busybox", "sh", "-c", "echo ready; sleep 1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    let kiln = child.id();
    let stacks: Vec<u32> = slirp_processes()
        .into_iter()
        .filter(|(_, ppid, _)| *ppid == kiln)
        .map(|(pid, _, _)| pid)
        .collect();
    assert_eq!(stacks.len(), 1, "kiln's slirp4netns: {stacks:?}");
    assert!(child.wait().unwrap().success());
    // At once, with no grace period: kiln reaped it before returning, so
    // it is neither an orphan nor a zombie.
    assert!(!alive(stacks[0]), "slirp4netns {} outlived kiln", stacks[0]);
}

#[test]
fn a_detached_containers_slirp4netns_exits_when_it_stops() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "quiet", "busybox", "sleep", "300"]);
    let pid = env.inspect("quiet")["State"]["Pid"].to_string();
    let stacks: Vec<u32> = slirp_processes()
        .into_iter()
        .filter(|(_, _, args)| args.iter().rev().nth(1) == Some(&pid))
        .map(|(pid, _, _)| pid)
        .collect();
    assert_eq!(stacks.len(), 1, "slirp4netns for pid {pid}: {stacks:?}");
    env.ok(&["stop", "-t", "1", "quiet"]);
    assert!(
        env.until(5, |_| !alive(stacks[0])),
        "slirp4netns {} outlived its container",
        stacks[0]
    );
}
