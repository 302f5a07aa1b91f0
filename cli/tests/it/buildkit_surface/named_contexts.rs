//! `--build-context NAME=DIR|GIT-URL|docker-image://REF|oci-layout://PATH` used by
//! FROM, COPY --from and RUN --mount from.

use std::process::Command;

use super::{build_ok, cached_steps, case, kiln_with_busybox, privileged, run_sh};

#[test]
fn image_and_oci_layout_contexts_replace_names() {
    if !privileged() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(
        src.join("Dockerfile"),
        "FROM busybox\nRUN echo marker > /etc/marker\n",
    )
    .expect("write");
    let a = kiln_with_busybox();
    let archive = tmp.path().join("layout.tar");
    let out = format!("type=oci,dest={}", archive.display());
    build_ok(&a, &src, &["-o", &out]);
    let layout = tmp.path().join("layout");
    std::fs::create_dir(&layout).expect("mkdir");
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .status()
        .expect("tar")
        .success();
    assert!(ok, "untar the layout");
    // A fresh root: `other` exists only in the layout, `base` is busybox.
    let b = kiln_with_busybox();
    let other = format!("other=oci-layout://{}", layout.display());
    let flags = [
        "--build-context",
        "base=docker-image://busybox",
        "--build-context",
        &other,
    ];
    let (id, _) = build_ok(&b, &case("build-context"), &flags);
    assert_eq!(run_sh(&b, &id, "cat /copied /mounted"), "marker\nmarker");
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn directory_and_git_contexts_with_their_own_dockerignore() {
    if !privileged() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let extra = tmp.path().join("extra");
    std::fs::create_dir(&extra).expect("mkdir");
    std::fs::write(extra.join("data.txt"), "data\n").expect("write");
    std::fs::write(extra.join("secret.txt"), "secret\n").expect("write");
    std::fs::write(extra.join(".dockerignore"), "secret.txt\n").expect("write");
    // A git context (file:// here; https and git@ take the same path).
    let repo = tmp.path().join("repo.git");
    std::fs::create_dir(&repo).expect("mkdir");
    std::fs::write(repo.join("a.txt"), "from git\n").expect("write");
    std::fs::write(repo.join("b.log"), "log\n").expect("write");
    std::fs::write(repo.join(".dockerignore"), "*.log\n").expect("write");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "c"]);
    let k = kiln_with_busybox();
    let e = format!("extra={}", extra.display());
    let r = format!("repo=file://{}", repo.display());
    let flags = ["--build-context", &e, "--build-context", &r];
    let dir = case("build-context-dir");
    let (id, _) = build_ok(&k, &dir, &flags);
    assert_eq!(
        run_sh(&k, &id, "ls -A /fromcopy /fromgit | tr '\\n' ' '"),
        "/fromcopy: .dockerignore data.txt  /fromgit: .dockerignore a.txt"
    );
    assert_eq!(
        run_sh(&k, &id, "cat /viafrom.txt /mounted"),
        "data\n.dockerignore data.txt"
    );
    // Unchanged contexts: every step is cached; an ignored file's change too.
    std::fs::write(extra.join("secret.txt"), "other\n").expect("write");
    let (again, stderr) = build_ok(&k, &dir, &flags);
    assert_eq!(again, id, "{stderr}");
    // A change in the directory re-runs what reads it.
    std::fs::write(extra.join("data.txt"), "new\n").expect("write");
    let (changed, stderr) = build_ok(&k, &dir, &flags);
    assert!(
        !cached_steps(&stderr)
            .iter()
            .any(|s| s.contains("COPY --from=extra")),
        "{stderr}"
    );
    assert_eq!(
        run_sh(&k, &changed, "cat /fromcopy/data.txt /viafrom.txt"),
        "new\nnew"
    );
}
