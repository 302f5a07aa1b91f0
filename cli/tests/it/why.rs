//! `kiln cache why` end to end: the corpus in testdata/why (see its
//! README). Each case is a context, a script of builds and edits, and the
//! exact `cache why` output after every build. Privileged (builds run RUN
//! steps): run as root, or set KILN_SKIP_PRIVILEGED=1 to skip.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::{busybox_tar, kiln_with_busybox, privileged, testdata, Kiln};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Copies `from` into `to` with modes 0644 (files) and 0755 (dirs), as a
/// checkout would make them whatever git kept: scripts set other modes.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for entry in std::fs::read_dir(from).expect("read case") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
    }
}

/// Digests vary with the machine's base image: shown as `sha256:…`.
fn normalise(out: &str) -> String {
    let mut result = String::new();
    let mut rest = out;
    while let Some(at) = rest.find("sha256:") {
        result.push_str(&rest[..at + 7]);
        rest = &rest[at + 7..];
        let hex = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex > 0 {
            result.push('…');
            rest = &rest[hex..];
            rest = rest.strip_prefix('…').unwrap_or(rest);
        }
    }
    result.push_str(rest);
    result
}

fn why(k: &Kiln, format: &str) -> String {
    let out = k
        .cmd(["cache", "why", "--last", "--format", format])
        .output()
        .expect("kiln cache why");
    assert!(out.status.success(), "cache why: {}", text(&out.stderr));
    text(&out.stdout)
}

fn unescape(s: &str) -> String {
    s.replace("\\n", "\n")
}

/// Runs one case: its script, checking `cache why` after each build.
fn run_case(name: &str) {
    if !privileged() {
        return;
    }
    let case = testdata().join("why").join(name);
    let script = std::fs::read_to_string(case.join("script")).expect("script");
    let work = tempfile::tempdir().expect("temp dir");
    let ctx = work.path().join("context");
    copy_tree(&case.join("context"), &ctx);
    let k = kiln_with_busybox();
    let lines: Vec<&str> = script
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let path = |p: &str| ctx.join(p);
        match verb {
            "build" => {
                let out = k
                    .cmd(["build", "--progress=plain"])
                    .args(rest.split_whitespace())
                    .arg(&ctx)
                    .output()
                    .expect("kiln build");
                assert!(
                    out.status.success(),
                    "{name}: build {rest} failed:\n{}",
                    text(&out.stderr)
                );
                let mut want = String::new();
                while i < lines.len() && lines[i].starts_with('|') {
                    let l = lines[i].strip_prefix("| ").unwrap_or(&lines[i][1..]);
                    want.push_str(l.trim_end());
                    want.push('\n');
                    i += 1;
                }
                assert!(
                    !want.is_empty(),
                    "{name}: no expected output after {line:?}"
                );
                let got = normalise(&why(&k, "text"));
                let got: String = got.lines().map(|l| format!("{}\n", l.trim_end())).collect();
                assert_eq!(
                    got, want,
                    "{name}: cache why after `{line}`\n--- got ---\n{got}--- want ---\n{want}"
                );
                // The JSON form tells the same causes.
                let doc: serde_json::Value =
                    serde_json::from_str(&why(&k, "json")).expect("cache why JSON");
                let steps = doc["steps"].as_array().expect("steps");
                assert_eq!(
                    steps.len(),
                    got.lines().filter(|l| !l.starts_with(' ')).count()
                );
            }
            "write" => {
                let (p, body) = rest.split_once(' ').unwrap_or((rest, ""));
                std::fs::write(path(p), unescape(body)).expect("write");
            }
            "mkdir" => std::fs::create_dir_all(path(rest)).expect("mkdir"),
            "rm" => std::fs::remove_file(path(rest)).expect("rm"),
            "chmod" | "chown" => {
                let (arg, p) = rest.split_once(' ').expect("MODE PATH");
                let ok = Command::new(verb)
                    .arg(arg)
                    .arg(path(p))
                    .status()
                    .expect(verb)
                    .success();
                assert!(ok, "{name}: {line}");
            }
            "replace" => {
                let (p, edit) = rest.split_once(' ').expect("replace PATH OLD => NEW");
                let (old, new) = edit.split_once(" => ").expect("OLD => NEW");
                let body = std::fs::read_to_string(path(p)).expect("read");
                let (old, new) = (unescape(old), unescape(new));
                assert!(body.contains(&old), "{name}: {p} lacks {old:?}");
                std::fs::write(path(p), body.replacen(&old, &new, 1)).expect("write");
            }
            "base" => {
                // Imported again with a config change: a new manifest digest.
                let (image, change) = rest.split_once(' ').expect("base NAME CHANGE");
                let out = k
                    .cmd(["import"])
                    .arg(busybox_tar())
                    .args([image, "--change", change])
                    .output()
                    .expect("kiln import");
                assert!(out.status.success(), "{name}: {}", text(&out.stderr));
            }
            other => panic!("{name}: unknown script line {other:?}"),
        }
    }
}

macro_rules! cases {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                run_case($name);
            }
        )*

        /// Every case folder has its test.
        #[test]
        fn every_case_runs() {
            let mut listed: Vec<&str> = vec![$($name),*];
            listed.sort();
            let mut found: Vec<String> = std::fs::read_dir(testdata().join("why"))
                .expect("testdata/why")
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            found.sort();
            assert_eq!(found, listed);
        }
    };
}

cases! {
    arg_change_names_the_arg_not_a_neighbour => "arg-change",
    env_change_names_the_variable => "env-change",
    file_mode_is_one_line_about_the_file => "file-mode",
    copy_from_names_the_copied_file => "copy-from-content",
    files_added_removed_changed => "file-changes",
    owners_count_only_where_a_copy_keeps_them => "owner",
    dockerignore_changes_the_files_read => "dockerignore",
    moved_lines_keep_their_own_steps => "moved-lines",
    an_inserted_line_is_a_new_step => "inserted-line",
    base_image_change_is_named => "base-image",
    run_mount_from_names_the_stage => "run-mount-from",
    no_cache_is_the_cause => "no-cache",
}

#[test]
fn json_gives_kinds_subjects_and_values() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        d.path().join("Dockerfile"),
        "FROM busybox\nARG V=1\nRUN echo a\nRUN echo $V > /v\n",
    )
    .expect("write");
    let build = |args: &[&str]| {
        let out = k
            .cmd(["build", "--progress=plain"])
            .args(args)
            .arg(d.path())
            .output()
            .expect("build");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let first = build(&[]);
    let second = build(&["--build-arg", "V=3"]);
    let doc: serde_json::Value = serde_json::from_str(&why(&k, "json")).expect("JSON");
    assert_eq!(doc["image"], second.as_str());
    assert_eq!(doc["previous"], first.as_str());
    let step = &doc["steps"][1];
    assert_eq!(step["name"], "[stage-0 4/4] RUN echo $V > /v");
    assert_eq!(step["cached"], false);
    assert_eq!(step["counterpart"]["how"], "same");
    let cause = &step["causes"][0];
    assert_eq!(
        (
            &cause["kind"],
            &cause["subject"],
            &cause["old"],
            &cause["new"]
        ),
        (&"arg".into(), &"V".into(), &"1".into(), &"3".into())
    );
    assert_eq!(cause["text"], "build arg V changed: 1 -> 3");
    assert_eq!(step["also"][0]["kind"], "previous-step");
    // An image names its own build.
    let out = k
        .cmd(["cache", "why", &first, "--format", "json"])
        .output()
        .expect("why");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["previous"], serde_json::Value::Null);
    assert_eq!(doc["steps"][0]["causes"][0]["kind"], "new-step");
}
