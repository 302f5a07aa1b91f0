//! `kiln export`: a container's filesystem as a tar (its image's layers
//! under its changes, without volumes or the kernel's filesystems), on
//! stdout or to `-o`, never to a terminal.

use std::path::Path;
use std::process::Command;

use super::{privileged, Env};

/// The entry names of a tar file, from the system's `tar`.
fn entries(tar: &Path) -> Vec<String> {
    let o = Command::new("tar").arg("-tf").arg(tar).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

#[test]
fn export_of_a_stopped_container_imports_as_its_filesystem() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let script = "echo made > /new; rm /etc/group; echo kept > /data/in-volume";
    let run = [
        "run",
        "--name",
        "done",
        "-v",
        "vol:/data",
        "busybox",
        "sh",
        "-c",
        script,
    ];
    env.ok(&run);
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("done.tar");
    env.ok(&["export", "-o", tar.to_str().unwrap(), "done"]);
    let names = entries(&tar);
    for present in ["new", "bin/busybox", "etc/passwd"] {
        assert!(
            names.iter().any(|n| n == present),
            "no {present}: {names:?}"
        );
    }
    // deleted in the container, and what lives in its volume
    for absent in ["etc/group", "data/in-volume"] {
        assert!(!names.iter().any(|n| n == absent), "{absent} exported");
    }
    env.ok(&["import", tar.to_str().unwrap(), "exported"]);
    let out = env.ok(&["run", "--rm", "exported", "cat", "/new"]);
    assert_eq!(out, "made\n");
}

#[test]
fn export_of_a_running_container_leaves_it_running_and_writable() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let script = "echo live > /made; rm /etc/group; touch /ready; exec sleep 60";
    env.ok(&["run", "-d", "--name", "live", "busybox", "sh", "-c", script]);
    assert!(env.until(10, |e| e.ok(&["diff", "live"]).contains("A /ready")));
    let o = env.out(&["export", "live"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("live.tar");
    std::fs::write(&tar, &o.stdout).unwrap();
    let names = entries(&tar);
    assert!(names.iter().any(|n| n == "made"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "etc/group"),
        "a whiteout was read"
    );
    // the root filesystem only: what /proc and /sys hold is the kernel's
    let mounted = names
        .iter()
        .find(|n| n.starts_with("proc/") || n.starts_with("sys/"));
    assert_eq!(mounted, None);
    assert_eq!(env.status("live"), "running");
    env.ok(&["exec", "live", "sh", "-c", "echo after > /later"]);
    assert_eq!(
        env.ok(&["exec", "live", "cat", "/made", "/later"]),
        "live\nafter\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.dir_of("live"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("export"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn export_refuses_to_write_a_tar_to_a_terminal() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["create", "--name", "idle", "busybox"]);
    // on a terminal: kiln's stdout is `script`'s pty
    let o = super::terminal::at_terminal(&env, &["export", "idle"], "");
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{text}"
    );
    // a missing container leaves no file behind
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("none.tar");
    let o = env.out(&["export", "-o", tar.to_str().unwrap(), "nope"]);
    assert!(!o.status.success());
    assert!(!tar.exists());
}
