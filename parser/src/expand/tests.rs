//! The BuildKit shell conformance vectors (testdata/conformance/buildkit-shell)
//! as table tests, plus the operators the vectors do not cover.

use std::path::PathBuf;

use super::*;

fn vectors(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/conformance/buildkit-shell")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixed_env() -> Vec<(String, String)> {
    [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn env_var_test_vectors() {
    let lexer = Lexer::new('\\');
    let env = fixed_env();
    let mut failures = Vec::new();
    let mut rows = 0;
    for line in vectors("envVarTest").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        assert_eq!(fields.len(), 3, "malformed row {line:?}");
        let (platform, input, expected) = (fields[0], fields[1], fields[2]);
        if platform == "W" {
            continue;
        }
        rows += 1;
        let got = lexer.process_word(input, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(v), e) => v == e,
            _ => false,
        };
        if !ok {
            failures.push(format!("{input:?}: want {expected:?}, got {got:?}"));
        }
    }
    assert!(rows > 100, "only {rows} rows read");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn words_test_vectors() {
    let lexer = Lexer::new('\\');
    let mut env: Vec<(String, String)> = Vec::new();
    let mut failures = Vec::new();
    let mut rows = 0;
    for line in vectors("wordsTest").lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(def) = line.strip_prefix("ENV ") {
            let (k, v) = def.trim_start().split_once('=').expect("ENV row has =");
            env.push((k.to_string(), v.to_string()));
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 2, "malformed row {line:?}");
        rows += 1;
        let input = fields[0].trim();
        let expected: Vec<&str> = fields[1].trim_start().split(',').collect();
        let got = lexer.process_words(input, &env);
        let ok = match &got {
            Err(_) => expected == ["error"],
            Ok(words) => *words == expected,
        };
        if !ok {
            failures.push(format!("{input:?}: want {expected:?}, got {got:?}"));
        }
    }
    assert!(rows >= 10, "only {rows} rows read");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn expand(word: &str, env: &[(&str, &str)]) -> Result<String, ExpandError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Lexer::default().process_word(word, &env)
}

#[test]
fn unset_versus_empty_without_colon() {
    let env = [("E", "")];
    assert_eq!(expand("${E-def}", &env).unwrap(), "");
    assert_eq!(expand("${E:-def}", &env).unwrap(), "def");
    assert_eq!(expand("${U-def}", &env).unwrap(), "def");
    assert_eq!(expand("${E+alt}", &env).unwrap(), "alt");
    assert_eq!(expand("${E:+alt}", &env).unwrap(), "");
    assert_eq!(expand("${U+alt}", &env).unwrap(), "");
}

#[test]
fn required_messages() {
    let env = [("E", "")];
    let err = expand("${U?need U}", &env).unwrap_err();
    assert_eq!(err.to_string(), "U: need U");
    let err = expand("${E:?}", &env).unwrap_err();
    assert_eq!(err.to_string(), "E: is not allowed to be empty");
    let err = expand("${U:?}", &env).unwrap_err();
    assert_eq!(err.to_string(), "U: is not allowed to be unset");
}

#[test]
fn prefix_and_suffix_trims() {
    let env = [("F", "archive.tar.gz"), ("P", "/usr/local/bin")];
    assert_eq!(expand("${F%.*}", &env).unwrap(), "archive.tar");
    assert_eq!(expand("${F%%.*}", &env).unwrap(), "archive");
    assert_eq!(expand("${F#*.}", &env).unwrap(), "tar.gz");
    assert_eq!(expand("${F##*.}", &env).unwrap(), "gz");
    assert_eq!(expand("${P#/usr}", &env).unwrap(), "/local/bin");
    assert_eq!(expand("${P%/b?n}", &env).unwrap(), "/usr/local");
    assert_eq!(expand("${F%nomatch}", &env).unwrap(), "archive.tar.gz");
    assert!(expand("${F:#x}", &env).is_err());
}

#[test]
fn replacements() {
    let env = [("V", "a-b-c"), ("D", "$x")];
    assert_eq!(expand("${V/-/+}", &env).unwrap(), "a+b-c");
    assert_eq!(expand("${V//-/+}", &env).unwrap(), "a+b+c");
    assert_eq!(
        expand("${V//-}", &env).unwrap_err(),
        ExpandError::MissingSlash
    );
    assert_eq!(
        expand("${V//-/", &env).unwrap_err(),
        ExpandError::MissingBrace
    );
    assert_eq!(expand("${V//-/}", &env).unwrap(), "abc");
    assert_eq!(expand("${V/b*/X}", &env).unwrap(), "a-X");
    assert_eq!(expand("${V/x/y}", &env).unwrap(), "a-b-c");
    assert_eq!(expand("${U/x/y}", &env).unwrap(), "");
    assert!(matches!(
        expand("${V/\\q/y}", &env),
        Err(ExpandError::InvalidPattern { .. })
    ));
}

#[test]
fn backtick_escape() {
    let lexer = Lexer::new('`');
    let env: Vec<(String, String)> = vec![("A".into(), "1".into())];
    assert_eq!(lexer.process_word("`$A", &env).unwrap(), "$A");
    assert_eq!(
        lexer.process_word("C:\\dir\\$A", &env).unwrap(),
        "C:\\dir\\1"
    );
    assert_eq!(lexer.process_word("\"a`\"b\"", &env).unwrap(), "a\"b");
    assert_eq!(lexer.process_words("a` b c", &env).unwrap(), ["a b", "c"]);
}

#[test]
fn reports_used_and_unset_variables() {
    let env: Vec<(String, String)> = vec![("SET".into(), "x".into())];
    let e = Lexer::default()
        .expand("$SET ${MISSING:-d} $1 ${@} \"$QUOTED\" '$NOT'", &env)
        .unwrap();
    assert_eq!(e.used.iter().collect::<Vec<_>>(), ["SET"]);
    assert_eq!(e.unset.iter().collect::<Vec<_>>(), ["QUOTED"]);
    assert_eq!(e.defaulted.iter().collect::<Vec<_>>(), ["MISSING"]);
    assert_eq!(e.words, ["x", "d", "$NOT"]);
}

mod never_panics {
    use proptest::prelude::*;

    use super::super::Lexer;

    proptest! {
        #[test]
        fn arbitrary_words(
            word in "([$\\{\\}:\\-+?#%/*'\"`\\\\ a-cA-C0-9@!]|é){0,40}",
            value in "[a-c*/ é]{0,6}",
            backtick in any::<bool>(),
        ) {
            let env = vec![("A".to_string(), value), ("B".to_string(), String::new())];
            let lexer = Lexer::new(if backtick { '`' } else { '\\' });
            let _ = lexer.expand(&word, &env);
        }
    }
}
