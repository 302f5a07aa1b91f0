//! An image deeper than one page of overlay options: 130 layers, past the
//! ~80 store paths that fit a `lowerdir=` and the handful fsconfig takes
//! in one value. Its build, a run, and `cp` and `export` of its stopped
//! container all see every layer.

use super::{privileged, Env};

#[test]
fn an_image_of_130_layers_builds_runs_and_copies_out() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let mut dockerfile = String::from("FROM busybox\n");
    for i in 1..=130 {
        dockerfile.push_str(&format!("RUN echo {i} > /f{i}\n"));
    }
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    env.ok(&["build", "-q", "-t", "deep", ctx.path().to_str().unwrap()]);
    let seen = env.ok(&["run", "--rm", "deep", "sh", "-c", "cat /f1 /f130"]);
    assert_eq!(seen, "1\n130\n");
    env.ok(&["create", "--name", "deep-idle", "deep", "true"]);
    let out = tempfile::tempdir().unwrap();
    let copied = out.path().join("f77");
    env.ok(&["cp", "deep-idle:/f77", copied.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), "77\n");
    let tar = out.path().join("deep.tar");
    env.ok(&["export", "-o", tar.to_str().unwrap(), "deep-idle"]);
    let listed = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listed.stdout);
    assert!(names.lines().any(|l| l == "f1"), "{names}");
    assert!(names.lines().any(|l| l == "f130"), "{names}");
}
