//! `kiln cache prune --filter type=cache-mount` (and BuildKit's
//! `type=exec.cachemount`): only cache mounts go, step records stay.

use super::{build_ok, case, kiln_with_busybox, privileged, run_sh, text};
use crate::support::Kiln;

fn du(k: &Kiln) -> String {
    let out = k.cmd(["cache", "du", "--verbose"]).output().expect("du");
    assert!(out.status.success(), "du: {}", text(&out.stderr));
    text(&out.stdout)
}

fn prune(k: &Kiln, filter: &str) -> std::process::Output {
    k.cmd(["cache", "prune", "-f", "--filter", filter])
        .output()
        .expect("prune")
}

#[test]
fn prune_type_cache_mount_removes_only_cache_mounts() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let dir = case("mount-cache");
    build_ok(&k, &dir, &[]);
    let (second, _) = build_ok(&k, &dir, &["--no-cache"]);
    assert_eq!(run_sh(&k, &second, "cat /count"), "2");
    let before = du(&k);
    assert!(before.contains("exec.cachemount"), "{before}");
    assert!(before.contains("regular"), "{before}");
    let out = prune(&k, "type=cache-mount");
    assert!(out.status.success(), "prune: {}", text(&out.stderr));
    let after = du(&k);
    assert!(!after.contains("exec.cachemount"), "{after}");
    assert!(after.contains("regular"), "{after}");
    // The mount starts empty again on the next run.
    let (third, _) = build_ok(&k, &dir, &["--no-cache"]);
    assert_eq!(run_sh(&k, &third, "cat /count"), "1");
    // BuildKit's name for the type works too; an unknown type is refused.
    let out = prune(&k, "type=exec.cachemount");
    assert!(out.status.success(), "prune: {}", text(&out.stderr));
    assert!(!du(&k).contains("exec.cachemount"));
    let out = prune(&k, "type=nonsense");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid filter type=\"nonsense\""),
        "{}",
        text(&out.stderr)
    );
}
