//! `kiln debug ast`: the reference dump on stdout, syntax errors as
//! `FILE:LINE:COL: message` with the line and a caret.

use std::io::Write;
use std::process::Stdio;

use crate::support::{testdata, Kiln};

#[test]
fn dumps_a_realworld_dockerfile_like_the_reference() {
    let dir = testdata().join("conformance/realworld");
    let file = dir.join("docker__buildx__Dockerfile.Dockerfile");
    let out = Kiln::new()
        .cmd(["debug", "ast", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read(dir.join("docker__buildx__Dockerfile.result")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn reads_standard_input_and_defaults_to_the_dockerfile_here() {
    let kiln = Kiln::new();
    let mut child = kiln
        .cmd(["debug", "ast", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from a\nRUN echo \\\n  hi\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "(from \"a\")\n(run \"echo   hi\")\n"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM x AS y\n").unwrap();
    let out = kiln
        .cmd(["debug", "ast"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "(from \"x\" \"AS\" \"y\")\n"
    );
}

#[test]
fn a_syntax_error_names_file_line_column_and_shows_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Dockerfile");
    std::fs::write(&path, "FROM a\nENV a=1 b\n").unwrap();
    let out = Kiln::new()
        .cmd(["debug", "ast", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}:2:5: syntax error - can't find = in \"b\". Must be of the form: name=value\nENV a=1 b\n    ^\n",
        path.display()
    );
    assert_eq!(stderr, expected);
}

#[test]
fn an_unterminated_heredoc_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Dockerfile");
    std::fs::write(&path, "FROM a\nRUN <<EOF\necho\n").unwrap();
    let out = Kiln::new()
        .cmd(["debug", "ast", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":2:1: unterminated heredoc"));
}
