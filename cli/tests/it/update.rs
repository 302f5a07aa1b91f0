//! `kiln update`: new limits reach a running container's cgroups at once,
//! and every container keeps them for `inspect` and its next start.

use crate::support::{kiln_with_busybox, ok, privileged, run, Cleanup, Kiln};

fn host_config(k: &Kiln, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&ok(k, &["inspect", name])).unwrap();
    v[0]["HostConfig"].clone()
}

/// A v1 controller file of the container's cgroup, seen from the host.
fn host_cgroup_file(k: &Kiln, name: &str, controller: &str, file: &str) -> String {
    let pid = ok(k, &["inspect", "-f", "{{.State.Pid}}", name]);
    let text = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).unwrap();
    let path = text
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let (names, path) = rest.split_once(':')?;
            names
                .split(',')
                .any(|n| n == controller)
                .then(|| path.to_string())
        })
        .expect("controller line");
    std::fs::read_to_string(format!("/sys/fs/cgroup/{controller}{path}/{file}")).unwrap()
}

fn v1() -> bool {
    !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

#[test]
fn memory_of_a_running_container_changes_inside_outside_and_in_inspect() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["mem"]);
    ok(
        &k,
        &[
            "run", "-d", "--name", "mem", "-m", "64m", "busybox", "sleep", "1000",
        ],
    );
    assert_eq!(ok(&k, &["update", "--memory", "32m", "mem"]), "mem\n");
    let limit = (32u64 << 20).to_string();
    let inside = if v1() {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    } else {
        "/sys/fs/cgroup/memory.max"
    };
    assert_eq!(ok(&k, &["exec", "mem", "cat", inside]).trim(), limit);
    if v1() {
        let outside = host_cgroup_file(&k, "mem", "memory", "memory.limit_in_bytes");
        assert_eq!(outside.trim(), limit);
    }
    let hc = host_config(&k, "mem");
    assert_eq!(hc["Memory"], 32 << 20);
    assert_eq!(hc["MemorySwap"], 128 << 20, "the swap limit stays");

    // Above the swap limit the swap limit must change too, as in Docker.
    let out = run(&k, &["update", "-m", "256m", "mem"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("smaller than already set memoryswap"), "{err}");
    ok(
        &k,
        &["update", "-m", "256m", "--memory-swap", "512m", "mem"],
    );
    let big = (256u64 << 20).to_string();
    assert_eq!(ok(&k, &["exec", "mem", "cat", inside]).trim(), big);
    assert_eq!(host_config(&k, "mem")["MemorySwap"], 512 << 20);
}

#[test]
fn a_stopped_container_starts_with_its_new_limits() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["later"]);
    ok(
        &k,
        &["create", "--name", "later", "busybox", "sleep", "1000"],
    );
    ok(
        &k,
        &[
            "update",
            "--memory",
            "48m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "20",
            "--cpu-shares",
            "512",
            "later",
        ],
    );
    let hc = host_config(&k, "later");
    assert_eq!(hc["Memory"], 48 << 20);
    assert_eq!(hc["NanoCpus"], 500_000_000);
    assert_eq!(hc["PidsLimit"], 20);
    assert_eq!(hc["CpuShares"], 512);
    ok(&k, &["start", "later"]);
    let read = |file: &str| ok(&k, &["exec", "later", "cat", file]).trim().to_string();
    if v1() {
        assert_eq!(
            read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
            (48u64 << 20).to_string()
        );
        assert_eq!(read("/sys/fs/cgroup/pids/pids.max"), "20");
        assert_eq!(read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("/sys/fs/cgroup/cpu/cpu.shares"), "512");
    } else {
        assert_eq!(read("/sys/fs/cgroup/memory.max"), (48u64 << 20).to_string());
        assert_eq!(read("/sys/fs/cgroup/pids.max"), "20");
    }
}

#[test]
fn the_restart_policy_is_kept_and_refused_with_rm() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["pol", "gone"]);
    ok(&k, &["create", "--name", "pol", "busybox", "true"]);
    ok(&k, &["update", "--restart", "on-failure:3", "pol"]);
    let policy = &host_config(&k, "pol")["RestartPolicy"];
    assert_eq!(policy["Name"], "on-failure");
    assert_eq!(policy["MaximumRetryCount"], 3);
    ok(&k, &["create", "--rm", "--name", "gone", "busybox", "true"]);
    let out = run(&k, &["update", "--restart", "always", "gone"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AutoRemove is enabled"), "{err}");
}

#[test]
fn a_new_restart_policy_applies_to_the_running_container() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["flaky"]);
    let script = "sleep 1; exit 3";
    ok(
        &k,
        &[
            "run", "-d", "--name", "flaky", "busybox", "sh", "-c", script,
        ],
    );
    ok(&k, &["update", "--restart", "on-failure:1", "flaky"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let format = "{{.RestartCount}} {{.State.Status}}";
    loop {
        let now = ok(&k, &["inspect", "-f", format, "flaky"]);
        if now.trim() == "1 exited" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never restarted once: {now}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn bad_values_and_no_flags_are_refused() {
    let k = Kiln::new();
    let out = run(&k, &["update", "--memory", "lots", "c"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--memory") && err.contains("lots"), "{err}");
    for (flag, value) in [("--cpus", "inf"), ("--memory-swap", "1e30g")] {
        let out = run(&k, &["update", flag, value, "c"]);
        assert_eq!(out.status.code(), Some(125), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains(value), "{err}");
    }
    let out = run(&k, &["update", "--restart", "sometimes", "c"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sometimes"));
    let out = run(&k, &["update", "c"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("one or more flags"), "{err}");
    let out = run(&k, &["update", "--memory", "64m", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"));
}
