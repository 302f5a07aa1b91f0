//! A session reads its Dockerfile and ignore file once, from inside the
//! context, and keeps parse errors located.

use std::fs;

use super::*;
use crate::lint::lint;

fn options(dir: &std::path::Path) -> BuildOptions {
    BuildOptions::in_context(dir)
}

#[test]
fn the_dockerfile_is_read_and_parsed_once_under_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("app.Dockerfile"),
        "FROM scratch\nCOPY a /\n",
    )
    .unwrap();
    let mut opts = options(dir.path());
    opts.dockerfile = Some(dir.path().join("app.Dockerfile"));
    let session = BuildSession::open(opts).unwrap();
    // Gone from disk: whatever reads the session later reads what was built.
    fs::remove_file(dir.path().join("app.Dockerfile")).unwrap();
    assert_eq!(session.file(), "app.Dockerfile");
    assert_eq!(session.source(), b"FROM scratch\nCOPY a /\n");
    assert_eq!(session.dockerfile().instructions.len(), 2);
}

#[test]
fn a_missing_dockerfile_is_a_read_error_naming_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let Err(e) = BuildSession::open(options(dir.path())) else {
        panic!("opened without a Dockerfile");
    };
    let BuildError::Read { path, .. } = &e else {
        panic!("{e:?}");
    };
    assert!(path.ends_with("/Dockerfile"), "{path}");
}

#[test]
fn a_parse_error_names_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY\n").unwrap();
    let Err(e) = BuildSession::open(options(dir.path())) else {
        panic!("COPY without arguments parsed");
    };
    assert!(
        matches!(&e, BuildError::Parse { file, line: 2, .. } if file == "Dockerfile"),
        "{e:?}"
    );
}

#[test]
fn a_dockerfile_symlink_cannot_leave_the_context() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("Dockerfile"),
        dir.path().join("Dockerfile"),
    )
    .unwrap();
    assert!(matches!(
        BuildSession::open(options(dir.path())),
        Err(BuildError::Read { .. })
    ));
}

#[test]
fn the_ignore_file_is_loaded_on_first_use_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    fs::write(dir.path().join(".dockerignore"), "secret\n").unwrap();
    let session = BuildSession::open(options(dir.path())).unwrap();
    let first = session.ignore().unwrap();
    assert!(first.matcher.matches("secret").unwrap().excluded);
    fs::write(dir.path().join(".dockerignore"), "other\n").unwrap();
    let again = session.ignore().unwrap();
    assert!(std::ptr::eq(first, again), "read twice");
    assert!(again.matcher.matches("secret").unwrap().excluded);
}

#[test]
fn a_bad_ignore_file_fails_only_what_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    fs::write(dir.path().join(".dockerignore"), "[\n").unwrap();
    let session = BuildSession::open(options(dir.path())).unwrap();
    assert!(
        lint(&session).is_empty(),
        "lint never reads the ignore file"
    );
    assert!(matches!(session.ignore(), Err(BuildError::Context(_))));
}

#[test]
fn lint_reads_the_parsed_dockerfile_for_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let df = "FROM scratch AS a\nFROM scratch AS b\n";
    fs::write(dir.path().join("Dockerfile"), df).unwrap();
    let unreachable = |target: Option<&str>| {
        let mut opts = options(dir.path());
        opts.target = target.map(str::to_string);
        let findings = lint(&BuildSession::open(opts).unwrap());
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(!findings[0].error);
        findings[0].text.clone()
    };
    assert!(unreachable(None).starts_with("Dockerfile:1:1: warning[UnreachableStage]: Stage 'a'"));
    assert!(
        unreachable(Some("a")).starts_with("Dockerfile:2:1: warning[UnreachableStage]: Stage 'b'")
    );
}
