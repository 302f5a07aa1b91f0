//! `kiln debug expand`: the shell lexer as users see it.

use crate::support::Kiln;

fn expand(args: &[&str]) -> (bool, String, String) {
    let out = Kiln::new()
        .cmd(["debug", "expand"].iter().chain(args))
        .output()
        .expect("run kiln");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn expands_with_env_and_operators() {
    let (ok, out, _) = expand(&[
        "-e",
        "F=archive.tar.gz",
        "-e",
        "E=",
        "${F%%.*}-${E:-empty}-${U-unset}",
    ]);
    assert!(ok);
    assert_eq!(out, "archive-empty-unset\n");
}

#[test]
fn words_one_per_line() {
    let (ok, out, _) = expand(&["--words", "-e", "L=  a b ", "x${L}y \"q r\""]);
    assert!(ok);
    // The value's trailing space ends a word: `y` stands alone.
    assert_eq!(out, "x\na\nb\ny\nq r\n");
}

#[test]
fn backtick_escape() {
    let (ok, out, _) = expand(&["--escape", "`", "-e", "A=1", "C:\\dir `$A $A"]);
    assert!(ok);
    assert_eq!(out, "C:\\dir $A 1\n");
}

#[test]
fn error_exits_1_with_message() {
    let (ok, out, err) = expand(&["he${PWD:=000}xx"]);
    assert!(!ok);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "kiln: error: failed to process \"he${PWD:=000}xx\": unsupported modifier (:=) in substitution\n"
    );
    let (ok, _, err) = expand(&["${NEED:?set NEED first}"]);
    assert!(!ok);
    assert!(err.ends_with(": NEED: set NEED first\n"), "{err}");
}

#[test]
fn rejects_bad_escape_and_env() {
    assert!(!expand(&["--escape", "x", "w"]).0);
    let (ok, _, err) = expand(&["-e", "NOEQUALS", "w"]);
    assert!(!ok);
    assert!(err.contains("expected K=V"), "{err}");
}
