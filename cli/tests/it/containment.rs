//! A build context is someone else's tree: nothing in it reaches the host.
//! Each test performs the attack (a symlinked Dockerfile or ignore file
//! pointing at a host file, a hostile line) and asserts the refusal.

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{privileged, Kiln};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A host file outside every context, holding a marker that must never
/// appear in kiln's output.
struct HostSecret {
    dir: tempfile::TempDir,
}

const MARKER: &str = "HOSTSECRET-7f3a";

impl HostSecret {
    fn new(content: &str) -> HostSecret {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("secret"), content).unwrap();
        HostSecret { dir }
    }
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("secret")
    }
}

fn build(k: &Kiln, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = k
        .cmd(["build", "--progress=plain"])
        .args(args)
        .env("KILN_TEST_MARKER", MARKER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiln build");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().expect("wait")
}

/// The build failed, said the Dockerfile is not there, and leaked nothing.
fn refused_without_leak(out: &Output) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "the build read a host file:\n{err}");
    assert!(!err.contains(MARKER), "host content leaked:\n{err}");
    assert!(!text(&out.stdout).contains(MARKER));
    assert!(
        err.contains("Dockerfile"),
        "the error names the file:\n{err}"
    );
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn a_dockerfile_symlink_to_a_host_file_resolves_inside_the_context() {
    let secret = HostSecret::new(&format!("{MARKER}:x:0:0\n"));
    let ctx = tempfile::tempdir().unwrap();
    symlink(secret.path(), ctx.path().join("Dockerfile")).unwrap();
    let k = Kiln::new();
    refused_without_leak(&build(&k, &[ctx.path().to_str().unwrap()], b""));
    // `-f` naming a file inside the context is resolved there too.
    symlink(secret.path(), ctx.path().join("ci.Dockerfile")).unwrap();
    let f = ctx.path().join("ci.Dockerfile");
    let args = ["-f", f.to_str().unwrap(), ctx.path().to_str().unwrap()];
    let out = build(&k, &args, b"");
    assert!(!out.status.success());
    assert!(!text(&out.stderr).contains(MARKER), "{}", text(&out.stderr));
}

#[test]
fn a_dockerfile_symlink_to_proc_self_environ_leaks_no_environment() {
    let ctx = tempfile::tempdir().unwrap();
    symlink("/proc/self/environ", ctx.path().join("Dockerfile")).unwrap();
    let out = build(&Kiln::new(), &[ctx.path().to_str().unwrap()], b"");
    refused_without_leak(&out);
}

#[test]
fn a_context_tar_on_stdin_cannot_point_its_dockerfile_at_the_host() {
    let secret = HostSecret::new(&format!("{MARKER}\n"));
    let ctx = tempfile::tempdir().unwrap();
    symlink(secret.path(), ctx.path().join("Dockerfile")).unwrap();
    let tar = Command::new("tar")
        .arg("-C")
        .arg(ctx.path())
        .args(["-cf", "-", "."])
        .output()
        .expect("tar");
    assert!(tar.status.success());
    refused_without_leak(&build(&Kiln::new(), &["-"], &tar.stdout));
}

#[test]
fn a_git_context_cannot_point_its_dockerfile_at_the_host() {
    let secret = HostSecret::new(&format!("{MARKER}\n"));
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo.git");
    fs::create_dir(&repo).unwrap();
    symlink(secret.path(), repo.join("Dockerfile")).unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "c",
        ],
    ] {
        let ok = Command::new("git")
            .current_dir(&repo)
            .args(args)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    }
    let url = format!("file://{}", repo.display());
    refused_without_leak(&build(&Kiln::new(), &[&url], b""));
}

/// An ignore file that is a symlink to a host file whose patterns would
/// exclude what the Dockerfile copies: read on the host, the COPY fails.
fn ignore_link_case(ctx: &Path, secret: &HostSecret, ignore_name: &str) {
    fs::write(ctx.join("a.txt"), "a\n").unwrap();
    fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\n").unwrap();
    symlink(secret.path(), ctx.join(ignore_name)).unwrap();
}

#[test]
fn ignore_files_that_are_symlinks_resolve_inside_the_context() {
    if !privileged() {
        return;
    }
    let secret = HostSecret::new("a.txt\n");
    for name in [".dockerignore", "Dockerfile.dockerignore"] {
        let ctx = tempfile::tempdir().unwrap();
        ignore_link_case(ctx.path(), &secret, name);
        let out = build(&Kiln::new(), &[ctx.path().to_str().unwrap()], b"");
        assert!(
            out.status.success(),
            "{name}: the host file's patterns applied:\n{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_named_contexts_ignore_file_resolves_inside_it() {
    if !privileged() {
        return;
    }
    let secret = HostSecret::new("a.txt\n");
    let extra = tempfile::tempdir().unwrap();
    fs::write(extra.path().join("a.txt"), "a\n").unwrap();
    symlink(secret.path(), extra.path().join(".dockerignore")).unwrap();
    let ctx = tempfile::tempdir().unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY --from=extra a.txt /a.txt\n",
    )
    .unwrap();
    let named = format!("extra={}", extra.path().display());
    let args = ["--build-context", &named, ctx.path().to_str().unwrap()];
    let out = build(&Kiln::new(), &args, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn kiln_check_resolves_a_symlinked_dockerfile_inside_the_working_directory() {
    let secret = HostSecret::new(&format!("{MARKER} x\n"));
    let ctx = tempfile::tempdir().unwrap();
    symlink(secret.path(), ctx.path().join("Dockerfile")).unwrap();
    let out = Kiln::new()
        .cmd(["check"])
        .current_dir(ctx.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!text(&out.stderr).contains(MARKER), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(MARKER));
}

#[test]
fn a_hostile_line_is_shown_as_a_short_escaped_excerpt() {
    let ctx = tempfile::tempdir().unwrap();
    let line = format!("\x1b]0;owned\x07\x1b[2J{}", "A".repeat(60_000));
    fs::write(ctx.path().join("Dockerfile"), format!("{line} x\n")).unwrap();
    for out in [
        build(&Kiln::new(), &[ctx.path().to_str().unwrap()], b""),
        Kiln::new()
            .cmd(["check"])
            .current_dir(ctx.path())
            .output()
            .unwrap(),
    ] {
        let err = text(&out.stderr);
        assert!(!out.status.success());
        assert!(err.len() < 2000, "{} bytes of error", err.len());
        assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
        assert!(err.contains("\\x1b]0;owned\\x07"), "{err}");
        assert!(err.contains("Dockerfile:1:1"), "{err}");
    }
}
