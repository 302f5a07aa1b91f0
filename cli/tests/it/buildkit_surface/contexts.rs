//! Contexts from stdin (tars in every compression, a lone Dockerfile),
//! `-f -` beside a directory, and git URL contexts (local file:// repos).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::add_remote::make_repo;
use super::{case, kiln_with_busybox, privileged, run_sh, text};
use crate::support::Kiln;

/// `kiln build --progress=plain ARGS…` with `input` on stdin.
fn build_stdin(k: &Kiln, args: &[&str], input: &[u8]) -> Output {
    let mut child = k
        .cmd(["build", "--progress=plain"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiln build");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("wait")
}

fn id_of(out: &Output) -> String {
    assert!(out.status.success(), "build failed:\n{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// The case folder as a tar, through `compress` when given.
fn tar_of(dir: &Path, compress: Option<&str>) -> Vec<u8> {
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-cf", "-", "."])
        .output()
        .expect("tar");
    assert!(tar.status.success());
    let Some(tool) = compress else {
        return tar.stdout;
    };
    let mut child = Command::new(tool)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("compressor");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = tar.stdout;
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("compress");
    writer.join().expect("join").expect("write");
    out.stdout
}

#[test]
fn tar_contexts_on_stdin_in_every_compression() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let dir = case("context-inputs");
    for tool in [None, Some("gzip"), Some("bzip2"), Some("xz"), Some("zstd")] {
        let out = build_stdin(&k, &["-"], &tar_of(&dir, tool));
        let id = id_of(&out);
        assert_eq!(
            run_sh(&k, &id, "cat /data.txt /built"),
            "from the context\nbuilt",
            "{tool:?}"
        );
    }
}

#[test]
fn dockerfile_on_stdin_with_and_without_a_directory() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    // No context: COPY has nothing to read, RUN works.
    let lone = b"FROM busybox\nRUN echo alone > /alone\n";
    let id = id_of(&build_stdin(&k, &["-"], lone));
    assert_eq!(run_sh(&k, &id, "cat /alone"), "alone");
    let copy = b"FROM busybox\nCOPY data.txt /d\n";
    let out = build_stdin(&k, &["-"], copy);
    assert!(
        !out.status.success(),
        "COPY from an empty context succeeded"
    );
    // -f - beside a directory: the directory is the context.
    let dir = case("context-inputs");
    let out = build_stdin(&k, &["-f", "-", dir.to_str().expect("utf-8")], copy);
    assert_eq!(run_sh(&k, &id_of(&out), "cat /d"), "from the context");
}

#[test]
fn git_url_contexts_with_ref_and_subdir() {
    if !privileged() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = make_repo(tmp.path());
    std::fs::write(repo.join("sub/Dockerfile"), "FROM busybox\nCOPY . /ctx/\n").expect("write");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .current_dir(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["add", "."]);
    git(&["commit", "-qm", "dockerfile"]);
    git(&["tag", "ctx"]);
    let k = kiln_with_busybox();
    let url = format!("file://{}#ctx:sub", repo.display());
    let out = build_stdin(&k, &[&url], b"");
    let id = id_of(&out);
    // The subdirectory is the context, without a .git.
    assert_eq!(
        run_sh(&k, &id, "cd /ctx && find . | sort"),
        ".\n./Dockerfile\n./file.txt"
    );
}

/// Docker's `github.com/OWNER/REPO` context: fetched over https, unless a
/// local directory has that name (Docker's CLI looks there first).
#[test]
fn github_shorthand_is_a_git_context_unless_a_directory_has_its_name() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let cwd = tempfile::tempdir().expect("tempdir");
    // No network here: a closed proxy makes the fetch fail at once, with
    // the URL it went for.
    let out = k
        .cmd(["build", "github.com/kiln-test/no-such-repo"])
        .current_dir(cwd.path())
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("kiln");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("https://github.com/kiln-test/no-such-repo.git"),
        "{err}"
    );
    let local = cwd.path().join("github.com/o/r");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        local.join("Dockerfile"),
        "FROM busybox\nRUN echo local > /where\n",
    )
    .unwrap();
    let out = k
        .cmd(["build", "-q", "github.com/o/r"])
        .current_dir(cwd.path())
        .output()
        .expect("kiln");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(run_sh(&k, text(&out.stdout).trim(), "cat /where"), "local");
}
