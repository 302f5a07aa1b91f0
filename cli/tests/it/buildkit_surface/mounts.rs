//! RUN --mount: cache (kept across --no-cache, emptied by
//! --no-cache-mounts, listed by `cache du`, passing `cache check`), bind,
//! tmpfs, secret (never stored anywhere) and ssh.

use std::path::Path;

use super::{build, build_ok, cached_steps, case, kiln_with_busybox, privileged, run_sh, text};
use crate::support::Kiln;

fn copy_case(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(case(name).join("."))
        .arg(dir.path())
        .status()
        .expect("cp")
        .success();
    assert!(ok, "copying case {name}");
    dir
}

fn cache_du(k: &Kiln) -> String {
    let out = k.cmd(["cache", "du", "--verbose"]).output().expect("du");
    assert!(out.status.success(), "du: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn cache_mount_survives_no_cache_and_no_cache_mounts_empties_it() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let dir = case("mount-cache");
    let (first, _) = build_ok(&k, &dir, &[]);
    assert_eq!(run_sh(&k, &first, "cat /count"), "1");
    assert_eq!(run_sh(&k, &first, "cat /owner"), "1000:1000 700");
    // The mount's content is no key ingredient: a plain rebuild is cached.
    let (again, stderr) = build_ok(&k, &dir, &[]);
    assert_eq!(run_sh(&k, &again, "cat /count"), "1");
    assert!(
        cached_steps(&stderr).iter().any(|s| s.contains("RUN")),
        "{stderr}"
    );
    // --no-cache re-runs the step and the cache keeps what the first run left.
    let (second, _) = build_ok(&k, &dir, &["--no-cache"]);
    assert_eq!(run_sh(&k, &second, "cat /count"), "2");
    let (third, _) = build_ok(&k, &dir, &["--no-cache", "--no-cache-mounts"]);
    assert_eq!(run_sh(&k, &third, "cat /count"), "1");
    // Never in the image: the mount point left no trace in the layer.
    assert_eq!(
        run_sh(&k, &third, "ls /var/cache 2>&1 || true"),
        "ls: /var/cache: No such file or directory"
    );
    let du = cache_du(&k);
    assert!(du.contains("exec.cachemount"), "{du}");
    assert!(du.contains("cache mount /var/cache/pkg (id=pkg)"), "{du}");
    let check = k.cmd(["cache", "check"]).output().expect("check");
    assert!(
        check.status.success(),
        "cache check after a cache mount changed:\n{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
}

#[test]
fn bind_mounts_read_the_context_and_stages_and_tmpfs_is_sized() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = copy_case("mount-bind");
    let (id, _) = build_ok(&k, ctx.path(), &[]);
    assert_eq!(run_sh(&k, &id, "cat /copied"), "original");
    assert_eq!(run_sh(&k, &id, "cat /ro"), "readonly");
    assert_eq!(run_sh(&k, &id, "cat /rw"), "changed");
    assert_eq!(run_sh(&k, &id, "cat /fromstage"), "from-stage");
    assert_eq!(run_sh(&k, &id, "cat /tmpsize"), "1024");
    // rw changes were thrown away, and no mount point is left in a layer.
    let data = std::fs::read_to_string(ctx.path().join("data.txt")).expect("data");
    assert_eq!(data, "original\n");
    assert_eq!(
        run_sh(
            &k,
            &id,
            "ls -d /mnt /src /t.txt /scratch 2>&1 | wc -l; ls /mnt /src 2>&1 | head -1"
        ),
        "4\nls: /mnt: No such file or directory"
    );
    // A bound file is an input: changing it re-runs the step that reads it.
    std::fs::write(ctx.path().join("data.txt"), "edited\n").expect("edit");
    let (edited, _) = build_ok(&k, ctx.path(), &[]);
    assert_eq!(run_sh(&k, &edited, "cat /copied"), "edited");
}

const SECRET: &str = "kiln-test-secret-8f3a1c77";

// A bind of the context once showed files .dockerignore excludes
// (the mount bound the directory itself).
#[test]
fn bind_mount_of_the_context_leaves_out_ignored_files() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let dir = copy_case("mount-bind-ignore");
    let (id, _) = build_ok(&k, dir.path(), &[]);
    assert_eq!(
        run_sh(&k, &id, "cat /listing"),
        ".dockerignore Dockerfile keep.txt sub"
    );
    assert_eq!(run_sh(&k, &id, "cat /sublisting"), "a.txt");
    // The rw mount's change went nowhere: not the context, not the image.
    assert!(!dir.path().join("sub/new").exists());
    assert_eq!(run_sh(&k, &id, "ls /sub 2>/dev/null | wc -l"), "0");
    // The ignored file is no ingredient either: changing it keeps the cache.
    std::fs::write(dir.path().join("secret.txt"), "changed").expect("write");
    let (again, stderr) = build_ok(&k, dir.path(), &[]);
    assert_eq!(again, id, "{stderr}");
}

fn secret_file(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("token.txt");
    std::fs::write(&p, SECRET).expect("secret file");
    p
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let out = std::process::Command::new("grep")
        .args(["-rlaF", "--"])
        .arg(std::ffi::OsStr::new(
            std::str::from_utf8(needle).expect("utf8"),
        ))
        .arg(dir)
        .output()
        .expect("grep");
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn secrets_reach_the_step_and_nothing_else() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = secret_file(tmp.path());
    let spec = format!("id=token,src={}", file.display());
    let (id, stderr) = build_ok(
        &k,
        &case("mount-secret"),
        &["--secret", &spec, "-t", "sec:1"],
    );
    let len = SECRET.len().to_string();
    assert_eq!(run_sh(&k, &id, "cat /filelen"), len);
    assert_eq!(run_sh(&k, &id, "cat /envlen"), len);
    assert_eq!(run_sh(&k, &id, "cat /perm"), "7 440");
    assert_eq!(
        run_sh(&k, &id, "cat /optional; ls /run /etc/tok 2>&1 | wc -l"),
        "optional secrets may be missing\n2"
    );
    assert!(!stderr.contains(SECRET), "the build log shows the secret");
    let why = k.cmd(["cache", "why", &id]).output().expect("why");
    assert!(!text(&why.stdout).contains(SECRET) && !text(&why.stderr).contains(SECRET));
    let history = k
        .cmd(["image", "history", "--no-trunc", &id])
        .output()
        .expect("history");
    assert!(!text(&history.stdout).contains(SECRET));
    let archive = tmp.path().join("saved.tar");
    let saved = k
        .cmd(["save", "-o"])
        .arg(&archive)
        .arg("sec:1")
        .output()
        .expect("save");
    assert!(saved.status.success(), "save: {}", text(&saved.stderr));
    assert_eq!(
        files_containing(&archive, SECRET.as_bytes()),
        Vec::<String>::new()
    );
    assert_eq!(
        files_containing(k.root(), SECRET.as_bytes()),
        Vec::<String>::new()
    );
    // The value is not a key ingredient: another value hits the cache.
    std::fs::write(&file, "another value").expect("rewrite");
    let (_, stderr) = build_ok(&k, &case("mount-secret"), &["--secret", &spec]);
    assert_eq!(cached_steps(&stderr).len(), 4, "{stderr}");
}

#[test]
fn secret_from_the_environment_and_a_missing_required_one() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let out = k
        .cmd([
            "build",
            "--progress=plain",
            "--secret",
            "id=token,env=KILN_TEST_TOKEN",
        ])
        .arg(case("mount-secret"))
        .env("KILN_TEST_TOKEN", "four")
        .output()
        .expect("build");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    assert_eq!(run_sh(&k, &id, "cat /envlen"), "4");
    let out = build(&k, &case("err-mount"), &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Dockerfile:2:") && stderr.contains("secret \"missing\": not provided"),
        "{stderr}"
    );
}

#[test]
fn ssh_mount_forwards_the_agent_socket() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let tmp = tempfile::tempdir().expect("tempdir");
    let sock = tmp.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("socket");
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir(&ctx).expect("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=ssh,required=true sh -c 'test -S \"$SSH_AUTH_SOCK\" && echo $SSH_AUTH_SOCK > /sock'\n",
    )
    .expect("Dockerfile");
    let flag = format!("default={}", sock.display());
    let (id, _) = build_ok(&k, &ctx, &["--ssh", &flag]);
    assert_eq!(run_sh(&k, &id, "cat /sock"), "/run/buildkit/ssh_agent.0");
    let out = build(&k, &ctx, &["--no-cache"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("ssh agent \"default\": not provided"));
}
