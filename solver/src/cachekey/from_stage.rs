//! The content digest of the paths a `COPY --from=<stage>` reads. BuildKit
//! keys such a copy by the checksum of the selected files, not by how the
//! source stage was made: a change in the stage that leaves the copied
//! files alone keeps the COPY, and every step after it, cached.
//!
//! The digest is computed once per source filesystem (its layers'
//! snapshots, which never change once made) and remembered in `builds/copy-content/`, so a fully cached
//! build reads no layer data to find it.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::ops::layered::Layered;

/// Bumped when what the digest covers changes: old memos are then unused.
const VERSION: &[u8] = b"kiln-copy-from-v2\0";

/// Where memos live under the store root.
pub fn memo_dir(root: &Path) -> PathBuf {
    root.join("builds").join("copy-content")
}

/// The digest of `paths` in the filesystem made of `layers` (top first),
/// whose snapshots (bottom first) are `snapshots`: taken from the memo
/// when known, else computed and remembered.
pub fn digest(memo: &Path, snapshots: &[&str], layers: &Layered, paths: &[String]) -> String {
    let mut id = blake3::Hasher::new();
    id.update(VERSION);
    for d in snapshots {
        id.update(d.as_bytes());
        id.update(b"\0");
    }
    for p in paths {
        id.update(&(p.len() as u64).to_le_bytes());
        id.update(p.as_bytes());
    }
    let file = memo.join(id.finalize().to_hex().as_str());
    if let Some(known) = std::fs::read_to_string(&file)
        .ok()
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return known;
    }
    let (digest, listed) = compute_listed(layers, paths);
    // A memo only saves work, and a list only `cache why` detail: failing
    // to write either is not an error.
    let _ = remember(&file, &digest);
    if let Some(root) = memo.parent().and_then(Path::parent) {
        let _ = super::files::save(&list_dir(root), &digest, &super::files::encode(&listed));
    }
    digest
}

/// Where the file lists behind content digests live under the store root
/// (`cache why` compares two of them to name the files that changed).
pub fn list_dir(root: &Path) -> PathBuf {
    root.join("builds").join("copy-from-files")
}

/// Memos kept; older ones are removed (a removed one is computed again).
const KEPT: usize = 1024;

fn remember(file: &Path, digest: &str) -> std::io::Result<()> {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, digest)?;
    std::fs::rename(&tmp, file)?;
    super::files::trim(dir, KEPT)
}

/// blake3 over each path's tree: names, types, modes, owners, sizes,
/// symlink targets and file contents, in sorted order. Source paths follow
/// symlinks as the copy does; entries below them are described, never
/// followed.
pub fn compute(layers: &Layered, paths: &[String]) -> String {
    compute_listed(layers, paths).0
}

/// [`compute`], and every entry it covered: `/PATH` -> `MODE UID:GID
/// KIND` (KIND as context file digests read: `file:HEX`, `link:TARGET`,
/// `dir`, `other:RDEV`). The list never enters the digest.
pub fn compute_listed(layers: &Layered, paths: &[String]) -> (String, Vec<super::files::Listed>) {
    let mut h = blake3::Hasher::new();
    h.update(VERSION);
    let mut listed = Vec::new();
    for p in paths {
        field(&mut h, p.as_bytes());
        let rel = layers.resolve(&literal_prefix(p), true);
        match layers.lookup(&rel) {
            None => field(&mut h, b"missing"),
            Some((abs, meta)) => tree(&mut h, &mut listed, layers, &rel, &abs, &meta),
        }
    }
    (h.finalize().to_hex().to_string(), listed)
}

/// The part of a source path before its first wildcard component: a
/// pattern's digest covers the whole directory it matches in, so no file
/// it may match can change unseen.
fn literal_prefix(path: &str) -> PathBuf {
    path.trim_start_matches('/')
        .split('/')
        .take_while(|part| !part.contains(['*', '?', '[', '\\']))
        .collect()
}

fn field(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn tree(
    h: &mut blake3::Hasher,
    listed: &mut Vec<super::files::Listed>,
    layers: &Layered,
    rel: &Path,
    abs: &Path,
    meta: &std::fs::Metadata,
) {
    let head = format!("{:o} {}:{}", meta.mode(), meta.uid(), meta.gid());
    field(h, head.as_bytes());
    let kind = meta.file_type();
    let what = if kind.is_symlink() {
        let target = std::fs::read_link(abs).unwrap_or_default();
        field(h, b"link");
        field(h, target.as_os_str().as_bytes());
        format!(
            "link:{}",
            String::from_utf8_lossy(target.as_os_str().as_bytes())
        )
    } else if kind.is_file() {
        let digest = file_digest(abs);
        field(h, b"file");
        field(h, &digest);
        match digest.len() {
            32 => format!("file:{}", hex(&digest)),
            _ => "file:unreadable".to_string(),
        }
    } else if kind.is_dir() {
        "dir".to_string()
    } else {
        format!("other:{}", meta.rdev())
    };
    listed.push((format!("/{}", rel.display()), format!("{head} {what}")));
    if kind.is_dir() {
        field(h, b"dir");
        for (name, child_abs, child) in layers.read_dir(rel) {
            field(h, name.as_bytes());
            tree(h, listed, layers, &rel.join(&name), &child_abs, &child);
        }
        field(h, b"end");
    } else if !kind.is_symlink() && !kind.is_file() {
        field(h, b"other");
        field(h, &meta.rdev().to_le_bytes());
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// blake3 of a file's bytes; an unreadable file digests as such (the copy
/// itself will then fail and say why).
fn file_digest(path: &Path) -> Vec<u8> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return b"unreadable".to_vec();
    };
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
            }
            Err(_) => return b"unreadable".to_vec(),
        }
    }
    h.finalize().as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (p, body) in files {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        dir
    }

    #[test]
    fn only_the_copied_paths_count() {
        let a = layer(&[("out/bin", "1"), ("src/main.c", "x")]);
        let b = layer(&[("out/bin", "1"), ("src/main.c", "y")]);
        let view = |d: &tempfile::TempDir| Layered::new(vec![d.path().to_path_buf()]);
        let paths = vec!["/out".to_string()];
        assert_eq!(compute(&view(&a), &paths), compute(&view(&b), &paths));
        let c = layer(&[("out/bin", "2"), ("src/main.c", "x")]);
        assert_ne!(compute(&view(&a), &paths), compute(&view(&c), &paths));
        let all = vec!["/".to_string()];
        assert_ne!(compute(&view(&a), &all), compute(&view(&b), &all));
    }

    #[test]
    fn a_pattern_covers_its_directory() {
        let a = layer(&[("out/a.txt", "1"), ("out/b.bin", "x")]);
        let b = layer(&[("out/a.txt", "1"), ("out/b.bin", "y")]);
        let view = |d: &tempfile::TempDir| Layered::new(vec![d.path().to_path_buf()]);
        let paths = vec!["/out/*.txt".to_string()];
        assert_ne!(compute(&view(&a), &paths), compute(&view(&b), &paths));
        assert_eq!(literal_prefix("/out/x*/y"), PathBuf::from("out"));
    }

    #[test]
    fn the_list_names_what_the_digest_covers() {
        let a = layer(&[("out/bin", "1")]);
        let view = Layered::new(vec![a.path().to_path_buf()]);
        let paths = vec!["/out".to_string()];
        let (whole, listed) = compute_listed(&view, &paths);
        assert_eq!(whole, compute(&view, &paths));
        let paths: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/out", "/out/bin"]);
        let bin = &listed[1].1;
        assert!(
            bin.starts_with("100644 ") && bin.contains(":0 file:"),
            "{bin}"
        );
        // Saved beside the memo for `cache why`, named by the digest.
        let root = tempfile::tempdir().unwrap();
        let ids = ["snapshot-a"];
        let d = digest(&memo_dir(root.path()), &ids, &view, &["/out".to_string()]);
        let kept = crate::cachekey::files::load(&list_dir(root.path()), &d).unwrap();
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn memo_is_used_once_written() {
        let a = layer(&[("f", "1")]);
        let memo = tempfile::tempdir().unwrap();
        let view = Layered::new(vec![a.path().to_path_buf()]);
        let ids = ["snapshot-a"];
        let paths = vec!["/f".to_string()];
        let first = digest(memo.path(), &ids, &view, &paths);
        // The memo answers for the same layers without reading them.
        std::fs::write(a.path().join("f"), "2").unwrap();
        assert_eq!(digest(memo.path(), &ids, &view, &paths), first);
        let other = ["snapshot-b"];
        assert_ne!(digest(memo.path(), &other, &view, &paths), first);
    }
}
