//! Property tests of the layer reader: random tars built from hostile
//! pieces (`..`, absolute names, symlinks out, hard links anywhere,
//! whiteouts), then the same with random bytes flipped. Whatever comes in,
//! apply returns Ok or a typed error, and nothing appears outside the target.

use std::fs;
use std::path::Path;

use proptest::prelude::*;

use super::testkit::{privileged, raw_tar, Raw};
use super::{apply, ApplyError};

const PARTS: &[&str] = &[
    "a",
    "b",
    "link",
    "..",
    ".",
    "",
    ".wh.a",
    ".wh..wh..opq",
    "OUT",
];

#[derive(Debug, Clone)]
struct Spec {
    name: Vec<usize>,
    kind: u8,
    link: Vec<usize>,
    data: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(0..PARTS.len(), 1..4),
        0u8..7,
        prop::collection::vec(0..PARTS.len(), 0..4),
        prop::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(|(name, kind, link, data)| Spec {
            name,
            kind,
            link,
            data,
        })
}

/// Joins parts into a path; `OUT` stands for the absolute outside dir, so
/// names and link targets can point straight at it.
fn join(parts: &[usize], outside: &str, leading_slash: bool) -> Vec<u8> {
    let mut s = String::new();
    if leading_slash {
        s.push('/');
    }
    let joined: Vec<&str> = parts
        .iter()
        .map(|&i| if PARTS[i] == "OUT" { outside } else { PARTS[i] })
        .collect();
    s.push_str(&joined.join("/"));
    s.into_bytes()
}

/// Name, link target, type and data of one entry.
type Built<'a> = (Vec<u8>, Vec<u8>, tar::EntryType, &'a [u8]);

fn build(specs: &[Spec], outside: &str) -> Vec<u8> {
    let owned: Vec<Built<'_>> = specs
        .iter()
        .map(|s| {
            let kind = match s.kind {
                0 | 1 => tar::EntryType::Regular,
                2 => tar::EntryType::Directory,
                3 | 4 => tar::EntryType::Symlink,
                5 => tar::EntryType::Link,
                _ => tar::EntryType::Fifo,
            };
            let data: &[u8] = if kind == tar::EntryType::Regular {
                &s.data
            } else {
                b""
            };
            let name = join(&s.name, outside, s.kind == 1);
            let link = join(&s.link, outside, s.kind == 4);
            (name, link, kind, data)
        })
        .collect();
    let raws: Vec<Raw<'_>> = owned
        .iter()
        .filter(|(name, link, _, _)| name.len() <= 100 && link.len() <= 100)
        .map(|(name, link, kind, data)| Raw {
            name,
            kind: *kind,
            link,
            data,
            mode: 0o755,
        })
        .collect();
    raw_tar(&raws)
}

/// Runs one apply in a fresh sandbox and checks the invariants; `make`
/// gets the sandbox's absolute `outside` dir to aim entries at.
fn check(make: impl FnOnce(&str) -> Vec<u8>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("file"), b"host").unwrap();
    let target = tmp.path().join("target");
    let tar = make(&outside.display().to_string());
    let result = apply(&tar[..], &target);
    if let Err(err) = &result {
        prop_assert!(!matches!(err, ApplyError::TargetExists(_)));
        prop_assert!(!target.exists(), "failed apply left the target: {err}");
    }
    let mut top: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    let expected: Vec<String> = if result.is_ok() {
        vec!["outside".into(), "target".into()]
    } else {
        vec!["outside".into()]
    };
    prop_assert_eq!(top, expected);
    prop_assert_eq!(listing(&outside), vec!["file".to_string()]);
    prop_assert_eq!(fs::read(outside.join("file")).unwrap(), b"host".to_vec());
    Ok(())
}

fn listing(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn apply_random_hostile_tars(specs in prop::collection::vec(spec(), 1..8)) {
        if privileged("apply_random_hostile_tars") {
            check(|outside| build(&specs, outside))?;
        }
    }

    #[test]
    fn apply_mutated_tars(
        specs in prop::collection::vec(spec(), 1..6),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        if privileged("apply_mutated_tars") {
            check(|outside| {
                let mut tar = build(&specs, outside);
                for (at, byte) in &flips {
                    let i = at.index(tar.len());
                    tar[i] = *byte;
                }
                if truncate {
                    tar.truncate(cut.index(tar.len()));
                }
                tar
            })?;
        }
    }

    #[test]
    fn apply_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        if privileged("apply_random_bytes") {
            check(|_| bytes.clone())?;
        }
    }
}
