//! `run`/`create` flags for names, resolvers, ports, files and limits:
//! what the container sees, what `inspect` shows, and Docker's refusals
//! (exit 125, the flag named).

use crate::support::{kiln_with_busybox, ok, privileged, run, Kiln};

/// Runs `args`, expects Docker's 125 and an error naming `flag` and `value`.
fn refused(k: &Kiln, args: &[&str], flag: &str, value: &str) {
    let out = run(k, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
    assert!(err.contains(flag) && err.contains(value), "{args:?}: {err}");
}

fn inspect(k: &Kiln, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&ok(k, &["inspect", name])).unwrap();
    v[0].clone()
}

#[test]
fn add_host_and_dns_flags_reach_hosts_and_resolv_conf() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let script = "cat /etc/hosts; echo ---; cat /etc/resolv.conf";
    let out = ok(
        &k,
        &[
            "run",
            "--rm",
            "--add-host",
            "db.internal:10.1.2.3",
            "--add-host",
            "v6:fe80::1",
            "--dns",
            "9.9.9.9",
            "--dns",
            "1.1.1.1",
            "--dns-search",
            "corp.example",
            "--dns-option",
            "ndots:3",
            "busybox",
            "sh",
            "-c",
            script,
        ],
    );
    let (hosts, resolv) = out.split_once("---\n").unwrap();
    assert!(hosts.contains("10.1.2.3\tdb.internal\n"), "{hosts}");
    assert!(hosts.contains("fe80::1\tv6\n"), "{hosts}");
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert_eq!(
        resolv,
        "search corp.example\nnameserver 9.9.9.9\nnameserver 1.1.1.1\noptions ndots:3\n"
    );
}

/// Values are checked before anything else (the image is not even looked
/// for: this root has none, and nothing is pulled).
#[test]
fn bad_name_and_resolver_values_are_refused_like_docker() {
    let k = Kiln::new();
    refused(
        &k,
        &["run", "--add-host", "nocolon", "busybox"],
        "--add-host",
        "nocolon",
    );
    refused(
        &k,
        &["run", "--add-host", "h:999.1.1.1", "busybox"],
        "--add-host",
        "999.1.1.1",
    );
    refused(
        &k,
        &["create", "--dns", "resolver", "busybox"],
        "--dns",
        "resolver",
    );
    refused(
        &k,
        &["run", "--dns-search", "bad_domain!", "busybox"],
        "--dns-search",
        "bad_domain!",
    );
    refused(
        &k,
        &["run", "--expose", "http", "busybox"],
        "--expose",
        "http",
    );
    refused(
        &k,
        &["run", "--expose", "90-80", "busybox"],
        "--expose",
        "90-80",
    );
    let out = run(
        &k,
        &["run", "--network", "host", "--dns", "1.1.1.1", "busybox"],
    );
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("conflicting options: dns and the network mode"),
        "{err}"
    );
}

#[test]
fn expose_adds_exposed_ports_and_label_file_adds_labels() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let labels = k.root().join("labels");
    std::fs::write(&labels, "# team\ntier=web\n\nowner=ops\n").unwrap();
    ok(
        &k,
        &[
            "create",
            "--name",
            "c",
            "--expose",
            "80",
            "--expose",
            "7000-7001/udp",
            "--label-file",
            labels.to_str().unwrap(),
            "-l",
            "owner=dev",
            "busybox",
            "true",
        ],
    );
    let v = inspect(&k, "c");
    let exposed = v["Config"]["ExposedPorts"].as_object().unwrap();
    let keys: Vec<&str> = exposed.keys().map(String::as_str).collect();
    assert_eq!(keys, ["7000/udp", "7001/udp", "80/tcp"]);
    assert_eq!(v["Config"]["Labels"]["tier"], "web");
    assert_eq!(
        v["Config"]["Labels"]["owner"], "dev",
        "--label wins over the file"
    );
    let out = run(
        &k,
        &["create", "--label-file", "/nonexistent/labels", "busybox"],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/labels"));
}

#[test]
fn cidfile_gets_the_id_and_an_existing_one_is_refused() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let cid = k.root().join("cid");
    let path = cid.to_str().unwrap();
    let id = ok(&k, &["create", "--cidfile", path, "busybox", "true"]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim());
    let before = ok(&k, &["ps", "-aq"]).lines().count();
    let out = run(&k, &["run", "--cidfile", path, "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("container ID file found") && err.contains(path),
        "{err}"
    );
    assert_eq!(
        ok(&k, &["ps", "-aq"]).lines().count(),
        before,
        "no container made"
    );
    // A foreground run writes it too.
    let fg = k.root().join("fg");
    ok(
        &k,
        &[
            "run",
            "--rm",
            "--cidfile",
            fg.to_str().unwrap(),
            "busybox",
            "true",
        ],
    );
    assert_eq!(std::fs::read_to_string(&fg).unwrap().len(), 64);
}

#[test]
fn ulimit_shm_size_sysctl_and_group_add_reach_the_process() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let script = "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1; \
                  cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/msgmax; id -G";
    let out = ok(
        &k,
        &[
            "run",
            "--rm",
            "--ulimit",
            "nofile=1024:2048",
            "--shm-size",
            "128m",
            "--sysctl",
            "net.ipv4.ip_unprivileged_port_start=99",
            "--sysctl",
            "kernel.msgmax=12345",
            "--group-add",
            "4242",
            "--group-add",
            "wheel",
            "busybox",
            "sh",
            "-c",
            script,
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1024", "{out}");
    assert_eq!(lines[1], "2048", "{out}");
    assert!(
        lines[2].split_whitespace().nth(1) == Some("131072"),
        "/dev/shm of 128m: {out}"
    );
    assert_eq!(lines[3], "99", "{out}");
    assert_eq!(lines[4], "12345", "{out}");
    let groups: Vec<&str> = lines[5].split_whitespace().collect();
    assert!(groups.contains(&"4242") && groups.contains(&"10"), "{out}");
    // The host's values are untouched.
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_ne!(host.trim(), "99");
}

#[test]
fn limit_and_kernel_values_are_refused_like_docker() {
    let k = Kiln::new();
    refused(
        &k,
        &["run", "--ulimit", "nofile=2048:1024", "busybox"],
        "--ulimit",
        "2048 > 1024",
    );
    refused(
        &k,
        &["run", "--ulimit", "files=1", "busybox"],
        "--ulimit",
        "files",
    );
    refused(
        &k,
        &["run", "--sysctl", "kernel.hostname=x", "busybox"],
        "--sysctl",
        "not whitelisted",
    );
    refused(
        &k,
        &["run", "--sysctl", "net.x/../../y=1", "busybox"],
        "--sysctl",
        "not whitelisted",
    );
    refused(
        &k,
        &[
            "run",
            "--network",
            "host",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "busybox",
        ],
        "--sysctl",
        "host network mode",
    );
    refused(
        &k,
        &["create", "--shm-size", "big", "busybox"],
        "--shm-size",
        "big",
    );
    let huge = ["create", "--shm-size", "1e30g", "busybox"];
    refused(&k, &huge, "--shm-size", "1e30g");
    refused(&k, &["run", "-m", "lots", "busybox"], "--memory", "lots");
    refused(&k, &["run", "--cpus", "inf", "busybox"], "--cpus", "inf");
}

#[test]
fn network_aliases_name_the_container_on_its_network() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    struct Gone<'k>(&'k Kiln);
    impl Drop for Gone<'_> {
        fn drop(&mut self) {
            let _ = self.0.cmd(["rm", "-f", "srv"]).output();
            let _ = self.0.cmd(["network", "rm", "aliasnet"]).output();
        }
    }
    let _gone = Gone(&k);
    ok(&k, &["network", "create", "aliasnet"]);
    ok(
        &k,
        &[
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            "aliasnet",
            "--network-alias",
            "api",
            "--net-alias",
            "db",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let script = "grep srv /etc/hosts; ping -c 1 -W 3 api >/dev/null && echo reached";
    let out = ok(
        &k,
        &[
            "run",
            "--rm",
            "--network",
            "aliasnet",
            "busybox",
            "sh",
            "-c",
            script,
        ],
    );
    let line = out.lines().next().unwrap_or_default();
    assert!(line.ends_with(" api db"), "{out}");
    assert!(out.contains("reached"), "{out}");
    let out = run(&k, &["run", "--network-alias", "x", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only for containers in user defined networks"),
        "{err}"
    );
}

#[test]
fn inspect_shows_the_flags_as_docker_names_them() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    ok(
        &k,
        &[
            "create",
            "--name",
            "shown",
            "--ulimit",
            "nofile=1024:2048",
            "--shm-size",
            "128m",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--dns",
            "9.9.9.9",
            "--dns-search",
            "corp",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "db:10.0.0.5",
            "--group-add",
            "wheel",
            "busybox",
            "true",
        ],
    );
    let hc = inspect(&k, "shown")["HostConfig"].clone();
    assert_eq!(hc["ShmSize"], 128 << 20);
    assert_eq!(
        hc["Ulimits"],
        serde_json::json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
    );
    assert_eq!(
        hc["Sysctls"],
        serde_json::json!({"net.ipv4.ip_forward": "1"})
    );
    assert_eq!(hc["Dns"], serde_json::json!(["9.9.9.9"]));
    assert_eq!(hc["DnsSearch"], serde_json::json!(["corp"]));
    assert_eq!(hc["DnsOptions"], serde_json::json!(["ndots:2"]));
    assert_eq!(hc["ExtraHosts"], serde_json::json!(["db:10.0.0.5"]));
    assert_eq!(hc["GroupAdd"], serde_json::json!(["wheel"]));
}
