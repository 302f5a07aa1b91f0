//! Directory (a snapshot or an overlay upper) → layer tar, byte for byte the
//! same on any machine: entries sorted bytewise by path, numeric owners with
//! no user or group names, mtimes clamped to SOURCE_DATE_EPOCH when given (as
//! BuildKit's `rewrite-timestamp` does), no atime/ctime, and PAX records only
//! where ustar cannot hold a value (long names, xattrs). The diff_id and the
//! compressed digest are computed while the bytes pass.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

use super::whiteout;
use crate::blobs::BlobRef;
use crate::compression::{Compression, Encoder};
use crate::digest::Digest;
use crate::digesting::{DigestingReader, DigestingWriter};
use crate::pipe::{self, Chunk, PipeWriter};
use crate::tree_measure::{self, EntryHash, Tally, TreeMeasure};

const BLOCK: usize = 512;
/// ustar's name field; longer paths that the prefix split cannot hold go
/// into a PAX `path` record.
const NAME_LEN: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("reading {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} changed size while the layer was being written")]
    Changed { path: PathBuf },
    #[error("writing the layer")]
    Write(#[source] io::Error),
}

/// How to write a layer.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Clamp every mtime to at most this (seconds since the epoch).
    pub source_date_epoch: Option<i64>,
    pub compression: Compression,
    /// zstd worker threads (see `compression::default_threads`).
    pub threads: u32,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            source_date_epoch: None,
            compression: Compression::None,
            threads: crate::compression::default_threads(),
        }
    }
}

/// What a written layer blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDigests {
    /// sha256 of the uncompressed tar (`rootfs.diff_ids` in the config).
    pub diff_id: Digest,
    /// sha256 of the blob as written (equal to diff_id when uncompressed).
    pub digest: Digest,
    /// Bytes of the blob as written.
    pub size: u64,
    pub uncompressed_size: u64,
    pub compression: Compression,
}

impl LayerDigests {
    /// An uncompressed layer: the blob is the tar, one digest names both.
    fn uncompressed(diff_id: Digest, size: u64) -> LayerDigests {
        LayerDigests {
            diff_id,
            digest: diff_id,
            size,
            uncompressed_size: size,
            compression: Compression::None,
        }
    }

    /// The blob as written, as the store names it.
    pub fn blob(&self) -> BlobRef {
        BlobRef {
            digest: self.digest,
            size: self.size,
        }
    }
}

/// Writes `dir` as a layer tar, compressed as asked, to `sink`.
pub fn diff<W: Write>(
    dir: &Path,
    sink: W,
    opts: &DiffOptions,
) -> Result<(W, LayerDigests), DiffError> {
    diff_into(dir, sink, opts, None)
}

/// [`diff`], measuring `dir` as a snapshot records it while its files
/// pass (for [`crate::store::Store::commit_measured_snapshot`]): a new
/// layer's files are then read once, not once more to measure them.
pub fn diff_measured<W: Write>(
    dir: &Path,
    sink: W,
    opts: &DiffOptions,
) -> Result<(W, LayerDigests, TreeMeasure), DiffError> {
    let mut tally = Tally::default();
    let (sink, digests) = diff_into(dir, sink, opts, Some(&mut tally))?;
    Ok((sink, digests, tally.finish()))
}

/// [`diff_measured`] of an uncompressed layer whose tar goes nowhere: the
/// diff_id and size of the tar, and the measure. The sha256 is taken on a
/// thread of its own while this one reads the files and measures them, so
/// a commit uses two cores.
pub fn diff_measured_aside(
    dir: &Path,
    opts: &DiffOptions,
) -> Result<(LayerDigests, TreeMeasure), DiffError> {
    let mut tally = Tally::default();
    let digests = tar_hashed_aside(dir, Vec::new(), opts, Some(&mut tally))?;
    Ok((digests, tally.finish()))
}

/// The uncompressed tar of `dir` to `readers`, and to a hashing thread of
/// its own that gives the diff_id: one copy of each chunk, shared.
pub(crate) fn tar_hashed_aside(
    dir: &Path,
    mut readers: Vec<SyncSender<Chunk>>,
    opts: &DiffOptions,
    tally: Option<&mut Tally>,
) -> Result<LayerDigests, DiffError> {
    let (tx, hash_in) = pipe::channel();
    readers.push(tx);
    let hasher = std::thread::Builder::new()
        .name("tar-sha256".into())
        .spawn(move || DigestingReader::new(hash_in).drain())
        .map_err(DiffError::Write)?;
    let entries = walk(dir)?;
    let mut out = PipeWriter::new(readers);
    write_entries(&mut out, dir, &entries, opts, tally)?;
    out.finish().map_err(DiffError::Write)?;
    let (diff_id, size) = hasher
        .join()
        .map_err(|_| DiffError::Write(io::Error::other("the tar's hashing thread panicked")))?
        .map_err(DiffError::Write)?;
    Ok(LayerDigests::uncompressed(diff_id, size))
}

fn diff_into<W: Write>(
    dir: &Path,
    sink: W,
    opts: &DiffOptions,
    mut tally: Option<&mut Tally>,
) -> Result<(W, LayerDigests), DiffError> {
    let entries = walk(dir)?;
    if opts.compression == Compression::None {
        // The blob is the tar: one hash gives both digests.
        let mut tar = DigestingWriter::new(sink);
        write_entries(&mut tar, dir, &entries, opts, tally.as_deref_mut())?;
        let (sink, diff_id, size) = tar.finish();
        return Ok((sink, LayerDigests::uncompressed(diff_id, size)));
    }
    let blob = DigestingWriter::new(sink);
    let encoder = Encoder::new(blob, opts.compression, opts.threads).map_err(DiffError::Write)?;
    let mut tar = DigestingWriter::new(encoder);
    write_entries(&mut tar, dir, &entries, opts, tally)?;
    let (encoder, diff_id, uncompressed_size) = tar.finish();
    let blob = encoder.finish().map_err(DiffError::Write)?;
    let (sink, digest, size) = blob.finish();
    Ok((
        sink,
        LayerDigests {
            diff_id,
            digest,
            size,
            uncompressed_size,
            compression: opts.compression,
        },
    ))
}

/// One path found in the directory, relative, with its lstat.
struct Found {
    rel: Vec<u8>,
    meta: Metadata,
    /// A synthetic `.wh..wh..opq` entry for an opaque directory.
    opaque_marker: bool,
}

/// Every path below `dir` (not `dir` itself), sorted bytewise.
fn walk(dir: &Path) -> Result<Vec<Found>, DiffError> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let abs = dir.join(&rel);
        let read = fs::read_dir(&abs).map_err(|source| DiffError::Read {
            path: abs.clone(),
            source,
        })?;
        for item in read {
            let item = item.map_err(|source| DiffError::Read {
                path: abs.clone(),
                source,
            })?;
            let child = rel.join(item.file_name());
            let path = dir.join(&child);
            let meta = fs::symlink_metadata(&path).map_err(|source| DiffError::Read {
                path: path.clone(),
                source,
            })?;
            if meta.is_dir() {
                pending.push(child.clone());
                let opaque = whiteout::is_opaque(&path).map_err(|source| DiffError::Read {
                    path: path.clone(),
                    source,
                })?;
                if opaque {
                    let marker = child.join(whiteout::OPAQUE);
                    found.push(Found {
                        rel: marker.into_os_string().into_vec(),
                        meta: meta.clone(),
                        opaque_marker: true,
                    });
                }
            }
            found.push(Found {
                rel: child.into_os_string().into_vec(),
                meta,
                opaque_marker: false,
            });
        }
    }
    found.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok(found)
}

fn write_entries<W: Write>(
    out: &mut W,
    dir: &Path,
    entries: &[Found],
    opts: &DiffOptions,
    mut tally: Option<&mut Tally>,
) -> Result<(), DiffError> {
    let mut first_links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut buf = vec![0u8; 1 << 20];
    for entry in entries {
        let path = dir.join(OsStr::from_bytes(&entry.rel));
        let rel = Path::new(OsStr::from_bytes(&entry.rel));
        let mut hash = match &tally {
            Some(_) if !entry.opaque_marker => Some(EntryHash::new(rel, &entry.meta)),
            _ => None,
        };
        // Docker and tar both leave sockets out of layers; the tree's
        // measure counts them.
        if entry.meta.file_type().is_socket() {
            if let (Some(t), Some(h)) = (tally.as_deref_mut(), hash) {
                let xattrs = tree_measure::xattrs(&path).map_err(read_err(&path))?;
                t.add(rel.to_path_buf(), &entry.meta, h.finish(&xattrs));
            }
            continue;
        }
        let mut spec = EntrySpec::from_found(entry, &path, opts.source_date_epoch)?;
        if spec.kind == tar::EntryType::Regular && entry.meta.nlink() > 1 {
            let key = (entry.meta.dev(), entry.meta.ino());
            if let Some(first) = first_links.get(&key) {
                spec.kind = tar::EntryType::Link;
                spec.link = Some(first.clone());
                spec.size = 0;
            } else {
                first_links.insert(key, spec.name.clone());
            }
        }
        spec.write_header(out).map_err(DiffError::Write)?;
        if spec.size > 0 {
            copy_file(out, &path, spec.size, &mut buf, hash.as_mut())?;
        }
        if let (Some(t), Some(h)) = (tally.as_deref_mut(), hash) {
            let sum = finish_measure(h, entry, &path, spec)?;
            t.add(rel.to_path_buf(), &entry.meta, sum);
        }
    }
    out.write_all(&[0u8; BLOCK * 2]).map_err(DiffError::Write)
}

/// The rest of an entry's measure once its tar entry is written: what the
/// tar did not pass through the hash (a hard link's bytes, a symlink's
/// target), then every xattr, overlayfs's own included.
fn finish_measure(
    mut hash: EntryHash,
    entry: &Found,
    path: &Path,
    spec: EntrySpec,
) -> Result<blake3::Hash, DiffError> {
    let ft = entry.meta.file_type();
    if ft.is_file() && spec.kind == tar::EntryType::Link {
        hash.content_of(path, entry.meta.len())
            .map_err(read_err(path))?;
    } else if ft.is_symlink() {
        hash.content(spec.link.as_deref().unwrap_or_default());
    }
    let xattrs = match spec.xattrs {
        Some(all) => all,
        // A whiteout's spec reads none.
        None => tree_measure::xattrs(path).map_err(read_err(path))?,
    };
    Ok(hash.finish(&xattrs))
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> DiffError + '_ {
    move |source| DiffError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies exactly `size` bytes of the file and the tar padding after them,
/// feeding them to `hash` too when it is given.
fn copy_file<W: Write>(
    out: &mut W,
    path: &Path,
    size: u64,
    buf: &mut [u8],
    mut hash: Option<&mut EntryHash>,
) -> Result<(), DiffError> {
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(read_err(path))?;
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = file.read(&mut buf[..want]).map_err(read_err(path))?;
        if n == 0 {
            return Err(DiffError::Changed {
                path: path.to_path_buf(),
            });
        }
        out.write_all(&buf[..n]).map_err(DiffError::Write)?;
        if let Some(h) = hash.as_deref_mut() {
            h.content(&buf[..n]);
        }
        left -= n as u64;
    }
    let pad = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
    out.write_all(&[0u8; BLOCK][..pad])
        .map_err(DiffError::Write)
}

/// Everything that goes into one entry's header (and PAX records).
struct EntrySpec {
    name: Vec<u8>,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    size: u64,
    link: Option<Vec<u8>>,
    device: (u32, u32),
    /// Every xattr, sorted, overlayfs's too (the tar leaves those out;
    /// the tree's measure hashes them); None where none were read
    /// (whiteouts).
    xattrs: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl EntrySpec {
    fn from_found(found: &Found, path: &Path, epoch: Option<i64>) -> Result<EntrySpec, DiffError> {
        let meta = &found.meta;
        let mtime = match epoch {
            Some(epoch) => meta.mtime().min(epoch),
            None => meta.mtime(),
        }
        .max(0) as u64;
        let mut spec = EntrySpec {
            name: found.rel.clone(),
            kind: tar::EntryType::Regular,
            mode: meta.mode() & 0o7777,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            mtime,
            size: 0,
            link: None,
            device: (0, 0),
            xattrs: None,
        };
        if found.opaque_marker {
            spec.whiteout();
            return Ok(spec);
        }
        let ft = meta.file_type();
        if whiteout::is_overlay_whiteout(meta) {
            spec.whiteout();
            spec.name = whiteout_name(&found.rel);
            return Ok(spec);
        }
        let read_err = |source| DiffError::Read {
            path: path.to_path_buf(),
            source,
        };
        if ft.is_dir() {
            spec.kind = tar::EntryType::Directory;
            spec.name.push(b'/');
        } else if ft.is_symlink() {
            spec.kind = tar::EntryType::Symlink;
            spec.link = Some(
                fs::read_link(path)
                    .map_err(read_err)?
                    .into_os_string()
                    .into_vec(),
            );
        } else if ft.is_char_device() || ft.is_block_device() {
            spec.kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            let rdev = meta.rdev();
            spec.device = (libc::major(rdev), libc::minor(rdev));
        } else if ft.is_fifo() {
            spec.kind = tar::EntryType::Fifo;
        } else {
            spec.size = meta.len();
        }
        spec.xattrs = Some(tree_measure::xattrs(path).map_err(read_err)?);
        Ok(spec)
    }

    /// OCI whiteouts are empty regular files owned by root, mode 0, as
    /// containerd writes them; only the (clamped) mtime is kept.
    fn whiteout(&mut self) {
        self.kind = tar::EntryType::Regular;
        self.mode = 0;
        self.uid = 0;
        self.gid = 0;
    }

    fn write_header<W: Write>(&self, out: &mut W) -> io::Result<()> {
        let mut header = tar::Header::new_ustar();
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if header.set_path(OsStr::from_bytes(&self.name)).is_err() {
            pax.push((b"path".to_vec(), self.name.clone()));
            set_truncated_name(&mut header, &self.name);
        }
        if let Some(link) = &self.link {
            // Literal: symlink targets are kept byte for byte (`./x` stays).
            if header.set_link_name_literal(link).is_err() {
                pax.push((b"linkpath".to_vec(), link.clone()));
                let cut = &link[..link.len().min(NAME_LEN)];
                header.as_old_mut().linkname[..cut.len()].copy_from_slice(cut);
            }
        }
        let travelling = self.xattrs.iter().flatten();
        for (name, value) in
            travelling.filter(|(n, _)| !whiteout::is_overlay_xattr(OsStr::from_bytes(n)))
        {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name);
            pax.push((key, value.clone()));
        }
        header.set_entry_type(self.kind);
        header.set_mode(self.mode);
        header.set_uid(self.uid);
        header.set_gid(self.gid);
        header.set_mtime(self.mtime);
        header.set_size(self.size);
        // Written for every entry (zero when not a device), as Go's
        // archive/tar does, so readers that parse them always find numbers.
        header.set_device_major(self.device.0)?;
        header.set_device_minor(self.device.1)?;
        header.set_cksum();
        if !pax.is_empty() {
            write_pax(out, &self.name, self.mtime, &pax)?;
        }
        out.write_all(header.as_bytes())
    }
}

fn whiteout_name(rel: &[u8]) -> Vec<u8> {
    let path = Path::new(OsStr::from_bytes(rel));
    let base = path.file_name().unwrap_or_default();
    let parent = path.parent().unwrap_or(Path::new(""));
    parent
        .join(whiteout::oci_name(base))
        .into_os_string()
        .into_vec()
}

fn set_truncated_name(header: &mut tar::Header, name: &[u8]) {
    let cut = &name[..name.len().min(NAME_LEN)];
    if let Some(ustar) = header.as_ustar_mut() {
        // A failed prefix split may have left half a path here.
        ustar.prefix.fill(0);
    }
    let field = &mut header.as_old_mut().name;
    field.fill(0);
    field[..cut.len()].copy_from_slice(cut);
}

/// A PAX extended header ('x') for the entry that follows. Its own name is
/// derived from the entry's only, and its mtime is the entry's, so the
/// bytes depend on nothing but the entry.
fn write_pax<W: Write>(
    out: &mut W,
    name: &[u8],
    mtime: u64,
    records: &[(Vec<u8>, Vec<u8>)],
) -> io::Result<()> {
    let mut body = Vec::new();
    for (key, value) in records {
        body.extend_from_slice(&pax_record(key, value));
    }
    let mut header = tar::Header::new_ustar();
    let base = Path::new(OsStr::from_bytes(name.strip_suffix(b"/").unwrap_or(name)))
        .file_name()
        .unwrap_or_default()
        .as_bytes();
    let mut pax_name = b"PaxHeaders.0/".to_vec();
    pax_name.extend_from_slice(&base[..base.len().min(NAME_LEN - pax_name.len())]);
    set_truncated_name(&mut header, &pax_name);
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_size(body.len() as u64);
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    out.write_all(&body)?;
    let pad = (BLOCK - body.len() % BLOCK) % BLOCK;
    out.write_all(&[0u8; BLOCK][..pad])
}

/// `"<len> <key>=<value>\n"` where len counts the whole record, itself too.
fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut rec = format!("{len} ").into_bytes();
    rec.extend_from_slice(key);
    rec.push(b'=');
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        assert_eq!(pax_record(b"path", b"abc"), b"12 path=abc\n".to_vec());
        let long = vec![b'x'; 95];
        let rec = pax_record(b"path", &long);
        assert_eq!(rec.len().to_string(), String::from_utf8_lossy(&rec[..3]));
    }

    #[test]
    fn whiteout_names_keep_their_directory() {
        assert_eq!(whiteout_name(b"etc/passwd"), b"etc/.wh.passwd".to_vec());
        assert_eq!(whiteout_name(b"top"), b".wh.top".to_vec());
    }
}
