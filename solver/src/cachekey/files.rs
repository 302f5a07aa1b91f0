//! The files a COPY reads from the context, as key ingredients. A small
//! copy keeps one ingredient per file (`file:PATH` = `MODE DIGEST`), so
//! `cache why` names the file that changed. A large one (a whole source
//! tree) would make a record of megabytes that every lookup, image write
//! and listing of the cache decodes: its files become one ingredient, the
//! digest of the list, and the list itself is kept beside the step logs
//! (`builds/copy-files/`, the newest [`KEPT`]) for `cache why` to compare.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::context::Entry;

use super::KeyBuilder;

/// Above this many files a COPY's files are one ingredient.
pub const MANY: usize = 256;
/// File lists kept; older ones are removed (`cache why` then says less).
pub const KEPT: usize = 64;
/// The ingredient name prefix of a file list: `files:SOURCE`.
pub const PREFIX: &str = "files:";

/// One file of a COPY: path, mode and content digest.
pub type Listed = (String, String);

/// Where the lists live under the store root.
pub fn dir(root: &Path) -> PathBuf {
    root.join("builds").join("copy-files")
}

/// Adds the ingredients of `source`'s files to `k`; a large list is
/// saved under `lists` (failing to save it only costs `cache why` detail).
pub fn add<'a>(
    k: &mut KeyBuilder,
    lists: &Path,
    source: &str,
    files: impl Iterator<Item = (&'a Entry, &'a String)>,
) {
    let listed: Vec<Listed> = files
        .map(|(e, d)| {
            (
                e.path.display().to_string(),
                format!("{:o} {d}", e.stat.mode),
            )
        })
        .collect();
    if listed.len() <= MANY {
        for (path, value) in listed {
            k.add(format!("file:{path}"), value);
        }
        return;
    }
    let text = encode(&listed);
    let digest = blake3::hash(text.as_bytes()).to_hex().to_string();
    let _ = save(lists, &digest, &text);
    k.add(
        format!("{PREFIX}{source}"),
        format!("{} files {digest}", listed.len()),
    );
}

/// `PATH\tMODE DIGEST` lines; a tab or newline in a path is escaped.
pub(crate) fn encode(listed: &[Listed]) -> String {
    let mut out = String::new();
    for (path, value) in listed {
        let path = path
            .replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n");
        out.push_str(&path);
        out.push('\t');
        out.push_str(value);
        out.push('\n');
    }
    out
}

pub(crate) fn save(lists: &Path, digest: &str, text: &str) -> std::io::Result<()> {
    let file = lists.join(digest);
    if file.exists() {
        // Touched, so the newest lists are the ones kept.
        return std::fs::File::options()
            .append(true)
            .open(&file)?
            .set_modified(std::time::SystemTime::now());
    }
    std::fs::create_dir_all(lists)?;
    let tmp = lists.join(format!(".{digest}.{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &file)?;
    trim(lists, KEPT)
}

/// Removes all but the newest `kept` files of `dir` (names starting with
/// a dot are being written).
pub(crate) fn trim(dir: &Path, kept: usize) -> std::io::Result<()> {
    let mut all: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if all.len() <= kept {
        return Ok(());
    }
    all.sort();
    for (_, path) in &all[..all.len() - kept] {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// The list a `files:` ingredient value names, when it is still kept.
pub fn load(lists: &Path, value: &str) -> Option<BTreeMap<String, String>> {
    let digest = value.rsplit(' ').next()?;
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let text = std::fs::read_to_string(lists.join(digest)).ok()?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (path, value) = line.split_once('\t')?;
        out.insert(unescape(path), value.to_string());
    }
    Some(out)
}

fn unescape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry::file_fixture(path)
    }

    fn key(
        lists: &Path,
        n: usize,
        changed: Option<usize>,
    ) -> (String, Vec<kiln_cache::Ingredient>) {
        let entries: Vec<Entry> = (0..n).map(|i| entry(&format!("d/f\t{i}"))).collect();
        let digests: Vec<String> = (0..n)
            .map(|i| format!("file:{}", if Some(i) == changed { "x" } else { "y" }))
            .collect();
        let mut k = KeyBuilder::new("COPY");
        add(&mut k, lists, "d", entries.iter().zip(digests.iter()));
        k.finish()
    }

    #[test]
    fn small_copies_list_files_and_large_ones_keep_a_list() {
        let dir = tempfile::tempdir().unwrap();
        let (_, small) = key(dir.path(), 3, None);
        assert_eq!(small.len(), 4);
        assert_eq!(small[1].name, "file:d/f\t0");
        let (a, big) = key(dir.path(), MANY + 1, None);
        assert_eq!(big.len(), 2);
        let (b, changed) = key(dir.path(), MANY + 1, Some(7));
        assert_ne!(a, b, "one file's content changes the key");
        let old = load(dir.path(), &big[1].value).unwrap();
        let new = load(dir.path(), &changed[1].value).unwrap();
        assert_eq!(old.len(), MANY + 1);
        assert_ne!(old["d/f\t7"], new["d/f\t7"]);
        assert_eq!(old["d/f\t8"], new["d/f\t8"]);
    }
}
