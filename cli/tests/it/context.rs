//! `kiln context ls`: what a build of a directory would send, and why.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::Kiln;

fn tree(root: &Path, files: &[&str]) {
    for f in files {
        let p = root.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "x").unwrap();
    }
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Kiln::new().cmd(args).output().expect("run kiln");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ctx() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            "Dockerfile",
            ".git/HEAD",
            "a/.git/config",
            "a/b/.git/x",
            "a/b/c/.git/y",
            "main.swp",
            "src/main.swp",
            "docs/README.md",
            "docs/other.md",
        ],
    );
    fs::write(
        dir.path().join(".dockerignore"),
        ".git\n*/.git\n*/*/.git\n*.sw?\ndocs\n!docs/README.md\n",
    )
    .unwrap();
    dir
}

#[test]
fn seed_example_lists_sorted_included_paths() {
    let dir = ctx();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = run(&["context", "ls", d]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        ".dockerignore\nDockerfile\na\na/b\na/b/c\na/b/c/.git\na/b/c/.git/y\ndocs\ndocs/README.md\nsrc\nsrc/main.swp\n"
    );
}

#[test]
fn why_names_the_deciding_line() {
    let dir = ctx();
    let d = dir.path().to_str().unwrap();
    let file = format!("{d}/.dockerignore");
    let why = |p: &str| run(&["context", "ls", "--why", p, d]).1;
    assert_eq!(
        why("a/b/.git/x"),
        format!("excluded by {file}:3: */*/.git\n")
    );
    assert_eq!(
        why("docs/README.md"),
        format!("included by {file}:6: !docs/README.md\n")
    );
    assert_eq!(
        why("docs/never/existed"),
        format!("excluded by {file}:5: docs\n")
    );
    assert_eq!(why("src/x"), "included (no pattern matches)\n");
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let dir = ctx();
    let d = dir.path();
    tree(d, &["build/app.Dockerfile"]);
    fs::write(d.join("build/app.Dockerfile.dockerignore"), "*\n!src\n").unwrap();
    let df = d.join("build/app.Dockerfile");
    let (code, out, err) = run(&[
        "context",
        "ls",
        "-f",
        df.to_str().unwrap(),
        d.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "src\nsrc/main.swp\n");
}

#[test]
fn invalid_pattern_names_file_and_line() {
    let dir = ctx();
    let d = dir.path().to_str().unwrap();
    fs::write(dir.path().join(".dockerignore"), "ok\n# comment\n[z-\n").unwrap();
    let (code, out, err) = run(&["context", "ls", d]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!(
            "kiln: error: {d}/.dockerignore:3: invalid pattern \"[z-\": syntax error in pattern\n"
        )
    );
}

// copy_symlink_escape: a symlink pointing out of the context is listed as a
// symlink and never walked into.
#[test]
fn symlink_out_of_context_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    tree(outside.path(), &["secret/key"]);
    symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
    let (code, out, _) = run(&["context", "ls", dir.path().to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "link\n"));
}

#[test]
fn missing_dir_is_an_error() {
    let (code, _, err) = run(&["context", "ls", "/nonexistent/kiln-ctx"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("kiln: error: /nonexistent/kiln-ctx: "),
        "{err}"
    );
}
