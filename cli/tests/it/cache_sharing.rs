//! `RUN --mount=type=cache,sharing=…` across two stages that run at once:
//! `shared` steps use the mount together, `locked` steps take turns.

use std::process::Output;

use super::support::{kiln_with_busybox, privileged, Kiln};

/// Two stages whose RUNs use cache mount `meet` with `sharing`; each
/// step runs `script` with `$ME` and `$OTHER` set, and the last stage
/// collects their `/seen` files.
fn build(k: &Kiln, sharing: &str, script: &str) -> Output {
    let ctx = tempfile::tempdir().unwrap();
    let stage = |me: &str, other: &str| {
        format!(
            "FROM busybox AS {me}\n\
             RUN --mount=type=cache,id=meet,target=/m,sharing={sharing} \
             ME={me} OTHER={other} sh -c '{script}'\n"
        )
    };
    let dockerfile = format!(
        "{}{}FROM busybox\nCOPY --from=left /seen /left\nCOPY --from=right /seen /right\n",
        stage("left", "right"),
        stage("right", "left"),
    );
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    k.cmd(["build", "--progress=plain", "--no-cache", "-t", "out"])
        .arg(ctx.path())
        .output()
        .expect("kiln build")
}

fn cat(k: &Kiln, path: &str) -> String {
    super::support::run_sh(k, "out", &format!("cat {path}"))
}

#[test]
fn shared_cache_mount_steps_run_together() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    // Each step waits (up to 60 s) for the other to arrive in the mount:
    // it only ends well when both hold the mount at once.
    let script = "touch /m/$ME; i=0; \
                  while [ ! -e /m/$OTHER ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; \
                  if [ -e /m/$OTHER ]; then echo met > /seen; else echo alone > /seen; fi";
    let out = build(&k, "shared", script);
    assert!(
        out.status.success(),
        "build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cat(&k, "/left").trim(), "met");
    assert_eq!(cat(&k, "/right").trim(), "met");
}

#[test]
fn locked_cache_mount_steps_take_turns() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    // Each step marks itself busy for a second and notes whether the
    // other was busy meanwhile.
    let script = "echo alone > /seen; touch /m/busy-$ME; i=0; \
                  while [ $i -lt 10 ]; do [ -e /m/busy-$OTHER ] && echo overlap > /seen; \
                  sleep 0.1; i=$((i+1)); done; rm /m/busy-$ME";
    let out = build(&k, "locked", script);
    assert!(
        out.status.success(),
        "build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cat(&k, "/left").trim(), "alone");
    assert_eq!(cat(&k, "/right").trim(), "alone");
}
