//! The Kubernetes examples (examples/kubernetes/) against the Kubernetes 1.30
//! JSON schemas vendored in testdata/kubernetes-schemas/, offline and strict:
//! an unknown field or a wrong type fails, as the API server would refuse it.

use crate::support::{output_text as text, testdata};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    testdata().join("..")
}

fn manifests() -> Vec<PathBuf> {
    let dir = repo().join("examples/kubernetes");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    found.sort();
    found
}

/// Debian's python3 with python3-jsonschema and python3-yaml
/// (testdata/apt-packages.txt): a missing one fails the test, never skips it.
fn validate(paths: &[PathBuf]) -> Output {
    Command::new("/usr/bin/python3")
        .arg(testdata().join("scripts/validate-kubernetes.py"))
        .arg(testdata().join("kubernetes-schemas/v1.30.0-local-strict"))
        .args(paths)
        .output()
        .expect("run /usr/bin/python3 (apt-get install python3-jsonschema python3-yaml)")
}

/// Writes `example` with `from` replaced by `to` into `dir`, checking the
/// replacement happened so a renamed field cannot make the check vacuous.
fn broken(dir: &Path, example: &str, from: &str, to: &str) -> PathBuf {
    let good = std::fs::read_to_string(repo().join("examples/kubernetes").join(example))
        .expect("read example");
    assert!(good.contains(from), "{example} has no {from:?}");
    let path = dir.join(example);
    std::fs::write(&path, good.replacen(from, to, 1)).expect("write broken manifest");
    path
}

#[test]
fn examples_are_valid_kubernetes_1_30_objects() {
    let paths = manifests();
    let names: Vec<_> = paths.iter().filter_map(|p| p.file_name()).collect();
    assert!(
        names.iter().any(|n| *n == "build-job.yaml")
            && names.iter().any(|n| *n == "runners-deployment.yaml"),
        "examples: {names:?}"
    );
    let out = validate(&paths);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{} documents valid", paths.len())),
        "{}",
        text(&out)
    );
}

#[test]
fn a_misspelt_field_is_rejected_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = broken(
        dir.path(),
        "build-job.yaml",
        "runAsNonRoot: true",
        "runAsNonRot: true",
    );
    let out = validate(&[bad]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("'runAsNonRot' was unexpected"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_wrong_type_is_rejected_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = broken(
        dir.path(),
        "runners-deployment.yaml",
        "replicas: 4",
        "replicas: four",
    );
    let out = validate(&[bad]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("spec.replicas: 'four' is not of type"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_kind_without_a_schema_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = broken(dir.path(), "build-job.yaml", "kind: Job", "kind: Jobb");
    let out = validate(&[bad]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no schema for apiVersion 'batch/v1' kind 'Jobb'"),
        "{}",
        text(&out)
    );
}
