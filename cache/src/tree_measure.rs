//! A directory tree's size and content digest, as a snapshot records them
//! and `cache check` recomputes them. Each entry is hashed on its own (its
//! path, metadata, content or link target, and every extended attribute);
//! the tree's digest is the hash of those, in path order.
//!
//! Two walkers produce it: [`measure_tree`] on its own, and the layer
//! writer, which hashes each entry as its bytes pass into the tar so that
//! a new layer's files are read once. Both build entries with
//! [`EntryHash`] and sum them with [`Tally`], so they agree by construction.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::layer::xattr;

/// Size and content digest of a directory tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeMeasure {
    pub size: u64,
    pub digest: String,
}

/// Walks `root` in sorted order; file contents are hashed in parallel.
pub(crate) fn measure_tree(root: &Path) -> io::Result<TreeMeasure> {
    let mut entries = Vec::new();
    collect(root, Path::new(""), &mut entries)?;
    let hashes: Vec<io::Result<blake3::Hash>> = entries
        .par_iter()
        .map(|(rel, md)| hash_entry(&root.join(rel), rel, md))
        .collect();
    let mut tally = Tally::default();
    for ((rel, md), hash) in entries.into_iter().zip(hashes) {
        tally.add(rel, &md, hash?);
    }
    Ok(tally.finish())
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, Metadata)>) -> io::Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let child = rel.join(&name);
        let md = fs::symlink_metadata(root.join(&child))?;
        let is_dir = md.is_dir();
        out.push((child.clone(), md));
        if is_dir {
            collect(root, &child, out)?;
        }
    }
    Ok(())
}

/// Files below this size are read whole; bigger ones through blake3's
/// own fixed buffer.
const SMALL_FILE: u64 = 64 << 10;

fn hash_entry(path: &Path, rel: &Path, md: &Metadata) -> io::Result<blake3::Hash> {
    let mut h = EntryHash::new(rel, md);
    let ft = md.file_type();
    if ft.is_file() {
        h.content_of(path, md.size())?;
    } else if ft.is_symlink() {
        h.content(fs::read_link(path)?.as_os_str().as_bytes());
    }
    // Devices, fifos and sockets: mode and rdev say all there is.
    Ok(h.finish(&xattrs(path)?))
}

/// One entry's hash, fed in order: path and metadata, then the content (a
/// file's bytes, a symlink's target), then its extended attributes.
pub(crate) struct EntryHash(blake3::Hasher);

impl EntryHash {
    pub(crate) fn new(rel: &Path, md: &Metadata) -> EntryHash {
        let mut h = blake3::Hasher::new();
        h.update(rel.as_os_str().as_bytes());
        h.update(&[0]);
        for n in [
            u64::from(md.mode()),
            u64::from(md.uid()),
            u64::from(md.gid()),
            md.rdev(),
        ] {
            h.update(&n.to_le_bytes());
        }
        if md.is_file() {
            h.update(&md.size().to_le_bytes());
        }
        EntryHash(h)
    }

    pub(crate) fn content(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Feeds the file at `path` (of `size` bytes when listed) as content.
    pub(crate) fn content_of(&mut self, path: &Path, size: u64) -> io::Result<()> {
        let mut f = fs::File::open(path)?;
        // A zeroed 256 KiB buffer per file cost an mmap and 64 page faults
        // each: for many small files that was most of the measuring.
        if size < SMALL_FILE {
            let mut bytes = Vec::with_capacity(size as usize + 1);
            f.read_to_end(&mut bytes)?;
            self.0.update(&bytes);
        } else {
            self.0.update_reader(&mut f)?;
        }
        Ok(())
    }

    /// `xattrs` sorted by name, all of them (overlayfs's own too).
    pub(crate) fn finish(mut self, xattrs: &[(Vec<u8>, Vec<u8>)]) -> blake3::Hash {
        for (name, value) in xattrs {
            self.0.update(name);
            self.0.update(&[0]);
            self.0.update(value);
            self.0.update(&[0]);
        }
        self.0.finalize()
    }
}

/// The extended attributes of `path` (not following a symlink), sorted.
pub(crate) fn xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    for name in xattr::list(path)? {
        // One removed since it was listed is not there to hash.
        if let Some(value) = xattr::get(path, &name)? {
            out.push((name.into_vec(), value));
        }
    }
    Ok(out)
}

/// Entry hashes in any order, summed into the tree's measure: the digest
/// over them in path order (a directory, then what is in it), the size
/// over files (a hard-linked inode once) and symlinks.
#[derive(Default)]
pub(crate) struct Tally {
    hashes: Vec<(PathBuf, blake3::Hash)>,
    size: u64,
    seen_inodes: HashSet<(u64, u64)>,
}

impl Tally {
    pub(crate) fn add(&mut self, rel: PathBuf, md: &Metadata, hash: blake3::Hash) {
        let first = md.nlink() <= 1 || self.seen_inodes.insert((md.dev(), md.ino()));
        if (md.is_file() && first) || md.file_type().is_symlink() {
            self.size += md.size();
        }
        self.hashes.push((rel, hash));
    }

    pub(crate) fn finish(mut self) -> TreeMeasure {
        // Path's order compares component by component: the order of a
        // walk that lists each directory sorted bytewise.
        self.hashes.sort_by(|a, b| a.0.cmp(&b.0));
        let mut tree = blake3::Hasher::new();
        for (_, h) in &self.hashes {
            tree.update(h.as_bytes());
        }
        TreeMeasure {
            size: self.size,
            digest: tree.finalize().to_hex().to_string(),
        }
    }
}
