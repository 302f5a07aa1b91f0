//! The files a COPY reads from the context, as key ingredients. A small
//! copy keeps one ingredient per file (`file:PATH` = `MODE DIGEST`), so
//! `cache why` names the file that changed. A large one (a whole source
//! tree) would make a record of megabytes that every lookup, image write
//! and listing of the cache decodes: its files become one ingredient, the
//! digest of the list, and the list itself is kept beside the step logs
//! (`builds/copy-files/`, the newest [`KEPT`]) for `cache why` to compare.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
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
/// A large list is hashed as it is written out, never held whole: for
/// 200,000 files that would be some 60 MiB of strings.
pub fn add<'a>(
    k: &mut KeyBuilder,
    lists: &Path,
    source: &str,
    files: impl Iterator<Item = (&'a Entry, &'a String)> + Clone,
) {
    let count = files.clone().count();
    if count <= MANY {
        for (e, d) in files {
            k.add(format!("file:{}", e.path.display()), value(e, d));
        }
        return;
    }
    let mut hasher = blake3::Hasher::new();
    // Buffered: the hasher is fastest fed large slices, not a line's
    // pieces. Writing to a hasher cannot fail.
    let mut buffered = std::io::BufWriter::with_capacity(64 << 10, &mut hasher);
    let _ = write_list(&mut buffered, files.clone()).and_then(|()| buffered.flush());
    drop(buffered);
    let digest = hasher.finalize().to_hex().to_string();
    let _ = save_with(lists, &digest, |out| write_list(out, files));
    k.add(
        format!("{PREFIX}{source}"),
        format!("{count} files {digest}"),
    );
}

/// A file's ingredient value: its mode in octal and its content digest.
fn value(e: &Entry, digest: &str) -> String {
    format!("{:o} {digest}", e.stat.mode)
}

/// The lines [`encode`] makes of `files`, written to `out` one by one.
fn write_list<'a>(
    out: &mut impl Write,
    files: impl Iterator<Item = (&'a Entry, &'a String)>,
) -> std::io::Result<()> {
    for (e, d) in files {
        let path = e.path.to_string_lossy();
        writeln!(out, "{}\t{:o} {d}", escape(&path), e.stat.mode)?;
    }
    Ok(())
}

/// `PATH\tMODE DIGEST` lines; a tab or newline in a path is escaped.
pub(crate) fn encode(listed: &[Listed]) -> String {
    let mut out = String::new();
    for (path, value) in listed {
        out.push_str(&escape(path));
        out.push('\t');
        out.push_str(value);
        out.push('\n');
    }
    out
}

fn escape(path: &str) -> Cow<'_, str> {
    if !path.contains(['\\', '\t', '\n']) {
        return Cow::Borrowed(path);
    }
    Cow::Owned(
        path.replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n"),
    )
}

pub(crate) fn save(lists: &Path, digest: &str, text: &str) -> std::io::Result<()> {
    save_with(lists, digest, |out| out.write_all(text.as_bytes()))
}

/// Keeps the list `digest` names, written by `write` unless it is kept
/// already.
fn save_with(
    lists: &Path,
    digest: &str,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
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
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    write(&mut out)?;
    out.into_inner().map_err(|e| e.into_error())?;
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

    #[test]
    fn a_streamed_list_is_the_encoded_text() {
        // The key names the digest of `encode`'s text of the list; writing
        // it line by line must not change a byte of it.
        let dir = tempfile::tempdir().unwrap();
        let (_, big) = key(dir.path(), MANY + 1, Some(3));
        let listed: Vec<Listed> = (0..=MANY)
            .map(|i| {
                let d = if i == 3 { "file:x" } else { "file:y" };
                (format!("d/f\t{i}"), format!("100644 {d}"))
            })
            .collect();
        let text = encode(&listed);
        let digest = blake3::hash(text.as_bytes()).to_hex();
        assert_eq!(big[1].value, format!("{} files {digest}", MANY + 1));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(digest.as_str())).unwrap(),
            text
        );
    }
}
