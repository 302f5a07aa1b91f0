//! The parser never panics: arbitrary bytes and mutated conformance
//! Dockerfiles give a tree or a typed error, in both the raw parse (dump)
//! and the typed AST.

use proptest::prelude::*;
use std::path::Path;

fn corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/conformance");
    let mut out = Vec::new();
    for sub in ["buildkit-parser/testfiles", "buildkit-parser/extra-cases"] {
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            out.push(std::fs::read(entry.unwrap().path().join("Dockerfile")).unwrap());
        }
    }
    for entry in std::fs::read_dir(root.join("realworld")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "Dockerfile") {
            out.push(std::fs::read(path).unwrap());
        }
    }
    out
}

/// Parses both ways; the error must render (that walks its fields).
fn exercise(input: &[u8]) {
    match kiln_parser::parse_raw(input) {
        Ok(raw) => {
            let _ = raw.dump();
            if let Err(e) = raw.typed() {
                assert!(!e.render("Dockerfile").is_empty());
            }
        }
        Err(e) => assert!(e.render("Dockerfile").contains(&e.kind.to_string())),
    }
}

/// Pieces that steer mutations towards the interesting syntax.
const PIECES: &[&[u8]] = &[
    b"\\\n",
    b"`\n",
    b"<<EOF",
    b"<<-'E'",
    b"\nEOF\n",
    b"[\"a\", 1]",
    b"--mount=type=cache",
    b"# escape=`\n",
    b"ONBUILD ",
    b"\"",
    b"'",
    b"${x:-<<Y}",
    b"\r\n",
    b"\xff",
    b"\xef\xbb\xbf",
    b"HEALTHCHECK --interval=1s CMD",
    b"ENV a",
    b"=",
    b" ",
    b"\t",
    b"#",
];

fn mutate(base: &[u8], edits: &[(usize, usize, usize)]) -> Vec<u8> {
    let mut out = base.to_vec();
    for &(at, cut, piece) in edits {
        let at = if out.is_empty() {
            0
        } else {
            at % (out.len() + 1)
        };
        let end = (at + cut % 8).min(out.len());
        out.splice(at..end, PIECES[piece % PIECES.len()].iter().copied());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..400)) {
        exercise(&input);
    }

    #[test]
    fn arbitrary_text_of_dockerfile_characters(input in "[A-Za-z \\t\\n\\\\`'\"<>#=\\-\\[\\]{},:$0-9]{0,300}") {
        exercise(input.as_bytes());
    }

    #[test]
    fn mutated_conformance_files(
        index in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 1..8),
    ) {
        let corpus = corpus();
        let base = &corpus[index % corpus.len()];
        exercise(&mutate(base, &edits));
    }
}

#[test]
fn pathological_inputs() {
    exercise(&vec![b'a'; 70_000]);
    exercise(&b"RUN [".repeat(20_000));
    exercise(&"ONBUILD ".repeat(5_000).into_bytes());
    exercise(&b"ONBUILD \\\n".repeat(5_000));
    exercise(&b"RUN x \\\n\n".repeat(5_000));
    let deep = format!("CMD {}{}", "[".repeat(30_000), "]".repeat(30_000));
    exercise(deep.as_bytes());
    let long = format!("RUN {}\n", "x".repeat(65_540));
    assert!(kiln_parser::parse_raw(long.as_bytes()).is_err());
}
