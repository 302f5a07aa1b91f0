//! The .dockerignore conformance tables (testdata/conformance/dockerignore)
//! and the walker-facing queries.

use std::path::{Path, PathBuf};

use super::*;

fn conformance(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/conformance/dockerignore")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn matcher(lines: &[&str]) -> Matcher {
    Matcher::parse(".dockerignore", &lines.join("\n")).expect("valid patterns")
}

#[test]
fn match_table() {
    let table = conformance("match.tsv");
    let mut failures = Vec::new();
    let mut rows = 0;
    for row in table.lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        assert_eq!(f.len(), 6, "malformed row {row:?}");
        let (patterns, path, expected, id) = (f[0], f[1], f[2], f[3]);
        let lines: Vec<String> = serde_json::from_str(patterns).expect("patterns are JSON");
        rows += 1;
        let got = Matcher::parse(".dockerignore", &lines.join("\n"))
            .and_then(|m| m.matches(path))
            .map(|d| d.excluded);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(v), e) => v.to_string() == e,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{id}: {patterns} {path:?}: want {expected}, got {got:?}"
            ));
        }
    }
    assert!(rows >= 100, "only {rows} rows read");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn readall_cases() {
    let cases: serde_json::Value = serde_json::from_str(&conformance("readall.json")).unwrap();
    let cases = cases.as_array().expect("array of cases");
    assert!(!cases.is_empty());
    for case in cases {
        let input = case["input"].as_str().unwrap();
        let want: Vec<&str> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let got: Vec<String> = read_patterns(input).into_iter().map(|(_, p)| p).collect();
        assert_eq!(got, want, "{}", case["id"]);
    }
}

#[test]
fn seed_example_from_the_issue() {
    let m = matcher(&[".git", "*/.git", "*/*/.git", "*.sw?"]);
    let excluded = |p: &str| m.matches(p).unwrap().excluded;
    assert!(excluded(".git"));
    assert!(excluded(".git/HEAD"));
    assert!(excluded("a/.git/config"));
    assert!(excluded("a/b/.git"));
    assert!(!excluded("a/b/c/.git"));
    assert!(excluded("main.swp"));
    assert!(!excluded("src/main.swp"));
}

#[test]
fn decision_names_the_deciding_line() {
    let m = Matcher::parse(".dockerignore", "# c\ndocs\n\n!docs/README.md\n").unwrap();
    let d = m.matches("docs/README.md").unwrap();
    assert!(!d.excluded);
    let p = &m.patterns()[d.pattern.unwrap()];
    assert_eq!(
        (p.line(), p.to_string()),
        (4, "!docs/README.md".to_string())
    );
    let d = m.matches("docs/other").unwrap();
    assert_eq!(m.patterns()[d.pattern.unwrap()].line(), 2);
    assert_eq!(m.matches("src").unwrap().pattern, None);
}

#[test]
fn invalid_patterns_name_file_and_line() {
    let err = Matcher::parse("ctx/.dockerignore", "ok\n\n[a-\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "ctx/.dockerignore:3: invalid pattern \"[a-\": syntax error in pattern"
    );
    let err = Matcher::parse("x", "a\n!\n").unwrap_err();
    assert_eq!(err.to_string(), "x:2: illegal exclusion pattern: \"!\"");
    // Passes the syntax check, fails on use (reversed range `l-O`).
    let m = Matcher::parse("x", "\n[Local-Only]/").unwrap();
    assert_eq!(
        m.matches("y").unwrap_err().to_string(),
        "x:2: invalid pattern \"[Local-Only]\": syntax error in pattern"
    );
}

#[test]
fn reinclude_query_is_precise_for_literals() {
    let m = matcher(&["build", "!build/keep/**", "vendor", "!vendor/a/b"]);
    assert!(m.may_reinclude_below("build"));
    assert!(m.may_reinclude_below("build/keep"));
    assert!(!m.may_reinclude_below("build/other"));
    assert!(m.may_reinclude_below("vendor/a"));
    assert!(!m.may_reinclude_below("vendor/a/b"));
    assert!(!m.may_reinclude_below("vendor/c"));
    assert!(matcher(&["x", "!**/keep"]).may_reinclude_below("x/y"));
    assert!(!matcher(&["x"]).may_reinclude_below("x"));
}

#[test]
fn parent_results_agree_with_direct_evaluation() {
    let m = matcher(&["**", "!dir/", "dir/*.tmp", "!dir/sub/**"]);
    let (top, info) = m.evaluate("dir", None).unwrap();
    assert!(!top.excluded);
    let (sub, sub_info) = m.evaluate("dir/sub", Some(&info)).unwrap();
    let (tmp, _) = m.evaluate("dir/sub/x.tmp", Some(&sub_info)).unwrap();
    assert_eq!(sub, m.matches("dir/sub").unwrap());
    assert_eq!(tmp, m.matches("dir/sub/x.tmp").unwrap());
    assert!(!tmp.excluded);
    assert!(m.matches("dir/x.tmp").unwrap().excluded);
}

#[test]
fn dockerfile_specific_ignore_file_name() {
    assert_eq!(
        dockerfile_ignore_path(Path::new("ctx/app.Dockerfile")),
        Path::new("ctx/app.Dockerfile.dockerignore")
    );
    assert_eq!(
        dockerfile_ignore_path(Path::new("Dockerfile")),
        Path::new("Dockerfile.dockerignore")
    );
}

#[test]
fn more_patternmatcher_rows() {
    let rows: &[(&[&str], &str, Option<bool>)] = &[
        (&["**/dir2/*"], "dir/dir2/file/", Some(true)),
        (&["**file"], "dir/file", Some(true)),
        (&["**/**/*.txt2"], "dir/dir/file.txt", Some(false)),
        (&["a/*.txt"], "a/dir/file.txt", Some(false)),
        (&["a[b-d]e"], "ace", Some(true)),
        (&["a[b-d]e"], "aae", Some(false)),
        (&["a\\\\"], "a\\", Some(true)),
        (&["a.|)$(}+{bc"], "a.|)$(}+{bc", Some(true)),
        (&["abc/**"], "abc/def/ghi", Some(true)),
        (&["[a-ζ]*"], "α", Some(true)),
        (&["*[a-ζ]"], "A", Some(false)),
        (&["[\\-]"], "-", Some(true)),
        (&["a?b"], "a☺b", Some(true)),
        (&["x^?"], "x^y", Some(false)),
        (&["x^y"], "x^y", Some(true)),
        (&["a\\*b"], "ab", Some(false)),
        (
            &["**", "!util/docker/web"],
            "util/docker/web/foo",
            Some(false),
        ),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            Some(true),
        ),
        (&["build", "!build/keep"], "build/keep/x/y.bin", Some(false)),
        (&["src**/*.rs"], "src/a/b/m.rs", Some(true)),
        (&["a+(b)|{c}$"], "a+(b)|{c}$", Some(true)),
        (&["[!x]"], "!", Some(true)),
        (&["{a,b}"], "a", Some(false)),
        (&["a["], "a", None),
        (&["\\"], "a", None),
        (&["[a-b-c]"], "a", None),
        (&["!/"], "a", None),
    ];
    for (patterns, path, want) in rows {
        let got = Matcher::parse("f", &patterns.join("\n")).and_then(|m| m.matches(path));
        assert_eq!(got.ok().map(|d| d.excluded), *want, "{patterns:?} {path:?}");
    }
}

mod never_panics {
    use proptest::prelude::*;

    use super::super::Matcher;

    proptest! {
        #[test]
        fn arbitrary_ignore_files_and_paths(
            text in "([!#/ *?\\[\\]\\\\^a-c.\\-{}()\t\r\n]|\u{feff}|é){0,40}",
            path in "([a-c/.*?\\[\\]\\\\ ]|é){0,16}",
        ) {
            if let Ok(m) = Matcher::parse("f", &text) {
                let _ = m.matches(&path);
                let _ = m.may_reinclude_below(&path);
            }
        }
    }
}
