//! `kiln commit`: the container's changes become a layer that a new
//! container of the committed image sees exactly.

use super::{privileged, Env};

#[test]
fn diff_and_commit_round_trip() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "--name",
        "changer",
        "busybox",
        "sh",
        "-c",
        "echo x > /new; rm /etc/group; echo y >> /etc/passwd",
    ]);
    let diff = env.ok(&["diff", "changer"]);
    let id = env.ok(&[
        "commit",
        "-c",
        r#"CMD ["cat", "/new"]"#,
        "-m",
        "three changes",
        "-a",
        "Tester <t@example.com>",
        "changer",
        "snap:1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    // The new image's CMD came from -c.
    assert_eq!(env.ok(&["run", "--rm", "snap:1"]), "x\n");
    let seen = env.ok(&[
        "run",
        "--rm",
        "snap:1",
        "sh",
        "-c",
        "test -e /etc/group && echo group-present; tail -n1 /etc/passwd",
    ]);
    assert_eq!(seen, "y\n", "deleted file came back or change lost");
    // A container of the committed image starts with no changes of its own.
    env.ok(&["run", "--name", "fresh", "snap:1", "true"]);
    assert_eq!(env.ok(&["diff", "fresh"]), "", "parent diff was:\n{diff}");
    let history = env.ok(&["history", "snap:1"]);
    assert!(history.contains("three changes"), "{history}");
    let config: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "snap:1"])).unwrap();
    assert_eq!(config[0]["Author"], "Tester <t@example.com>", "{config}");
}

#[test]
fn commit_pauses_a_running_container_and_leaves_it_running() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo during > /live; exec sleep 1000",
    ]);
    assert!(env.until(5, |e| e
        .out(&["exec", "live", "test", "-e", "/live"])
        .status
        .success()));
    env.ok(&["commit", "live", "snap:live"]);
    assert_eq!(env.status("live"), "running");
    assert_eq!(
        env.ok(&["run", "--rm", "snap:live", "cat", "/live"]),
        "during\n"
    );
    // why: the runtime's empty /etc mount points are the container's, never the image's
    let snapshots = env.kiln.root().join("snapshots");
    let layer = std::fs::read_dir(&snapshots)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("live").exists())
        .expect("the committed layer's snapshot");
    for f in ["hosts", "hostname", "resolv.conf"] {
        assert!(!layer.join("etc").join(f).exists(), "/etc/{f} committed");
    }
}

#[test]
fn commit_of_an_unchanged_container_is_an_empty_layer() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "--name", "same", "busybox", "true"]);
    env.ok(&["commit", "same", "snap:same"]);
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    env.ok(&["save", "-o", tar.to_str().unwrap(), "snap:same"]);
    let out = std::process::Command::new("tar")
        .args([
            "-xf",
            tar.to_str().unwrap(),
            "-C",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    let top = dir.path().join(layers.last().unwrap().as_str().unwrap());
    let listing = std::process::Command::new("tar")
        .args(["-tf", top.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(listing.status.success(), "{listing:?}");
    let entries = String::from_utf8_lossy(&listing.stdout);
    assert_eq!(entries, "", "the committed layer holds entries");
}
