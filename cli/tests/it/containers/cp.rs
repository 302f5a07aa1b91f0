//! `kiln cp` on containers that are not running (created or exited), as
//! `docker cp` allows: their files are the image layers under the upper
//! directory.

use super::{privileged, Env};

/// Idempotent, so a second `start -a` shows what was copied in meanwhile.
const CHANGES: &str = "cat /dropped 2>/dev/null; echo mine > /etc/mine; rm -f /etc/group; \
                       ln -sfn {SECRET} /leak; ln -sfn ../../../../../../etc /up";

#[test]
fn cp_works_on_created_and_exited_containers() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    let payload = host.path().join("payload");
    std::fs::write(&payload, "pwned\n").unwrap();
    // created, never started: copying in lands in what it will see
    env.ok(&["create", "--name", "fresh", "busybox", "cat", "/dropped"]);
    env.ok(&["cp", payload.to_str().unwrap(), "fresh:/dropped"]);
    assert_eq!(env.ok(&["start", "-a", "fresh"]), "pwned\n");

    let secret = host.path().join("secret");
    std::fs::write(&secret, "host-only").unwrap();
    let script = CHANGES.replace("{SECRET}", secret.to_str().unwrap());
    env.ok(&["run", "--name", "done", "busybox", "sh", "-c", &script]);
    assert_eq!(env.status("done"), "exited");
    let out = host.path().join("out");
    // from the upper dir and from the image's layers
    env.ok(&["cp", "done:/etc/mine", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine\n");
    env.ok(&["cp", "done:/bin/busybox", host.path().to_str().unwrap()]);
    assert!(host.path().join("busybox").metadata().unwrap().len() > 100_000);
    // a file the container deleted is gone for cp too (the whiteout)
    let gone = env.out(&["cp", "done:/etc/group", out.to_str().unwrap()]);
    assert!(!gone.status.success(), "cp saw a deleted file");
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("could not find the file"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );

    // why: a stopped container's links must not reach host files either
    let _ = env.out(&["cp", payload.to_str().unwrap(), "done:/leak"]);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host-only");
    std::fs::remove_file(&out).unwrap();
    env.ok(&["cp", "done:/up/mine", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine\n");

    // copied in while exited: the next start sees it, `diff` lists it
    env.ok(&["cp", payload.to_str().unwrap(), "done:/up/../dropped"]);
    assert!(env.ok(&["diff", "done"]).lines().any(|l| l == "A /dropped"));
    assert_eq!(env.ok(&["start", "-a", "done"]), "pwned\n");
}

#[test]
fn cp_on_a_stopped_container_reaches_its_volumes() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    let bound = host.path().join("bound");
    std::fs::create_dir(&bound).unwrap();
    let payload = host.path().join("payload");
    std::fs::write(&payload, "into the volume\n").unwrap();
    let ro_bind = format!("{}:/bound:ro", bound.display());
    let script = "echo from-run > /data/made";
    env.ok(&[
        "run",
        "--name",
        "v",
        "-v",
        "vol:/data",
        "-v",
        &ro_bind,
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    // in: it lands in the volume, where the next container finds it
    env.ok(&["cp", payload.to_str().unwrap(), "v:/data/payload"]);
    let read = [
        "run",
        "--rm",
        "-v",
        "vol:/data",
        "busybox",
        "cat",
        "/data/payload",
    ];
    assert_eq!(env.ok(&read), "into the volume\n");
    // out: from the volume, not from the empty directory under it
    let out = host.path().join("out");
    env.ok(&["cp", "v:/etc/../data/made", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "from-run\n");
    // a read-only mount refuses what is copied in; the host dir stays as it was
    let refused = env.out(&["cp", payload.to_str().unwrap(), "v:/bound/x"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("/bound: the volume mounted there is read-only"),
        "{err}"
    );
    assert!(!bound.join("x").exists());
}
