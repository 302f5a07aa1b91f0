//! Layer tar → snapshot directory. The tar is untrusted: every entry is
//! resolved inside the target one component at a time without following a
//! symlink, so nothing is ever written outside it (the class of bug behind
//! CVE-2018-15664 and containerd's GHSA-wcrx-4qxq-7m8p). OCI whiteouts become
//! overlay whiteouts, because snapshots are overlay lowers. Any error removes
//! the whole target: a snapshot exists complete or not at all.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};

use crate::compression::{self, CompressionError, Format};
use crate::digest::Digest;
use crate::digesting;
use crate::durable;
use crate::pipe::{self, PipeReader, PipeWriter};

use super::tar_limits::{LimitedTar, TarLimitError};
use super::whiteout::{self, OciName};
use super::xattr;

/// Files at least this large start their writeback as soon as written.
const WRITEBACK_AT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("malformed layer archive")]
    Malformed(#[source] io::Error),
    #[error("malformed layer archive: {0}")]
    Invalid(String),
    #[error("layer entry {0:?} escapes the snapshot")]
    Escape(String),
    #[error("layer entry {path:?} would write through the symlink {link:?}")]
    ThroughSymlink { path: String, link: String },
    #[error("layer entry {path:?} is below {parent:?}, which is not a directory")]
    NotADirectory { path: String, parent: String },
    #[error("hard link {path:?} points to {target:?}, which is not a file in the layer")]
    BadLink { path: String, target: String },
    #[error("layer entry {path:?} has unsupported type {kind}")]
    Unsupported { path: String, kind: String },
    #[error("snapshot target {0} is not empty")]
    TargetExists(PathBuf),
    #[error("writing {path}")]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error(transparent)]
    Limit(#[from] TarLimitError),
}

impl ApplyError {
    /// A read error, which is the limit's refusal when it carries one.
    fn malformed(source: io::Error) -> ApplyError {
        match TarLimitError::find(&source) {
            Some(limit) => ApplyError::Limit(limit.clone()),
            None => ApplyError::Malformed(source),
        }
    }
}

/// What was applied: the diff_id lets the caller check the layer against the
/// image config's `rootfs.diff_ids` before it commits the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub diff_id: Digest,
    pub uncompressed_size: u64,
    pub format: Format,
}

/// Unpacks `blob` (a layer tar, compressed or not) into `target`, which
/// must be an empty directory (a snapshot staging dir) or not exist yet. On
/// error `target` is removed and nothing else was touched.
pub fn apply<R: Read>(blob: R, target: &Path) -> Result<Applied, ApplyError> {
    prepare_target(target)?;
    let result = unpack(blob, target);
    if result.is_err() {
        // Best effort: the error being returned matters more than a failure
        // to clean, and the store sweeps tmp/ of dead processes anyway.
        let _ = fs::remove_dir_all(target);
    }
    result
}

fn prepare_target(target: &Path) -> Result<(), ApplyError> {
    let write_err = |source| ApplyError::Write {
        path: target.to_path_buf(),
        source,
    };
    match fs::read_dir(target).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApplyError::TargetExists(target.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .mode(0o755)
            .create(target)
            .map_err(write_err),
        Err(e) => Err(write_err(e)),
    }
}

/// One thread per stage, so that a layer keeps more than one core busy:
/// this one reads `blob` (for a pull: the network, the blob's sha256 and
/// its file), one inflates, one hashes the tar (the diff_id) and one
/// unpacks it. A stage that fails hangs up on the one before it, which
/// then stops too.
fn unpack<R: Read>(blob: R, target: &Path) -> Result<Applied, ApplyError> {
    let (to_inflate, compressed) = pipe::channel();
    let (to_hash, for_hash) = pipe::channel();
    let (to_untar, for_untar) = pipe::channel();
    let (read, inflated, hashed, unpacked) = std::thread::scope(|s| {
        let inflate = s.spawn(move || inflate(compressed, vec![to_hash, to_untar]));
        let hash = s.spawn(move || digesting::digest_all(for_hash));
        let untar = s.spawn(move || untar(for_untar, target));
        let mut blob = blob;
        // A reader that hung up stopped on an error of its own, told below.
        let read = pipe::pump(&mut blob, PipeWriter::new(vec![to_inflate]));
        (read, join(inflate), join(hash), join(untar))
    });
    read.map_err(ApplyError::Malformed)?;
    let format = match (inflated, unpacked) {
        // The unpacker hung up: its error is the cause.
        (Err(InflateError::Io(e)), Err(cause)) if e.kind() == io::ErrorKind::BrokenPipe => {
            return Err(cause)
        }
        // A stream that fails to inflate also ends the tar early: the
        // inflater's error says why.
        (Err(InflateError::Header(e)), _) => return Err(e.into()),
        (Err(InflateError::Io(e)), _) => return Err(ApplyError::malformed(e)),
        (Ok(_), Err(e)) => return Err(e),
        (Ok(format), Ok(())) => format,
    };
    let (diff_id, uncompressed_size) = hashed.map_err(ApplyError::malformed)?;
    Ok(Applied {
        diff_id,
        uncompressed_size,
        format,
    })
}

fn join<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

enum InflateError {
    Header(CompressionError),
    Io(io::Error),
}

/// Decompresses what the pipe carries to every reader of `to`.
fn inflate(
    compressed: PipeReader,
    to: Vec<SyncSender<Arc<Vec<u8>>>>,
) -> Result<Format, InflateError> {
    let (format, mut tar) = compression::decoder(compressed).map_err(InflateError::Header)?;
    match pipe::pump(&mut tar, PipeWriter::new(to)) {
        Ok(true) => Ok(format),
        Ok(false) => Err(InflateError::Io(io::ErrorKind::BrokenPipe.into())),
        Err(e) => Err(InflateError::Io(e)),
    }
}

fn untar(tar: PipeReader, target: &Path) -> Result<(), ApplyError> {
    let mut archive = tar::Archive::new(LimitedTar::new(tar, "layer tar"));
    let mut unpacker = Unpacker::new(target);
    for entry in archive.entries().map_err(ApplyError::malformed)? {
        let mut entry = entry.map_err(ApplyError::malformed)?;
        unpacker.entry(&mut entry)?;
    }
    unpacker.finish()?;
    // The tar reader stops at the end-of-archive blocks; what follows is
    // read too, or the inflater would take the hang-up for a failure.
    let mut rest = archive.into_inner().into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(ApplyError::malformed)?;
    Ok(())
}

/// A tar path split into clean components: a leading `/` and `.` parts
/// dropped (as Docker and GNU tar do), `..` refused.
fn components(raw: &[u8]) -> Result<Vec<&OsStr>, ApplyError> {
    let mut out = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(ApplyError::Escape(lossy(raw))),
            _ => out.push(OsStr::from_bytes(part)),
        }
    }
    Ok(out)
}

fn lossy(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Metadata from one tar header, applied after the node is made.
struct Attrs {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

struct Unpacker<'a> {
    root: &'a Path,
    /// Directories (relative) already checked to be real directories.
    checked: HashSet<PathBuf>,
    /// Directory mtimes are set last: writing children changes them.
    dir_times: Vec<(PathBuf, i64)>,
}

impl<'a> Unpacker<'a> {
    fn new(root: &'a Path) -> Self {
        Unpacker {
            root,
            checked: HashSet::new(),
            dir_times: Vec::new(),
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ApplyError> {
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let parts = components(&raw)?;
        let attrs = read_attrs(entry)?;
        let Some((name, parents)) = parts.split_last() else {
            return self.root_entry(kind, &raw, attrs);
        };
        let parent = self.resolve_parent(&raw, parents)?;
        match whiteout::classify(name) {
            OciName::Opaque => whiteout::set_opaque(&self.root.join(&parent))
                .map_err(|source| self.write_err(&parent, source)),
            OciName::Remove(deleted) => self.whiteout(&parent.join(deleted)),
            OciName::Plain => self.node(entry, kind, &raw, &parent.join(name), attrs),
        }
    }

    /// `./` itself: only a directory entry makes sense, and it sets the
    /// root's own owner, mode and times (as `docker export` tars carry).
    fn root_entry(
        &mut self,
        kind: tar::EntryType,
        raw: &[u8],
        attrs: Attrs,
    ) -> Result<(), ApplyError> {
        if kind != tar::EntryType::Directory {
            return Err(ApplyError::Invalid(format!(
                "entry {:?} replaces the root with a non-directory",
                lossy(raw)
            )));
        }
        self.set_attrs(Path::new(""), &attrs, true)
    }

    /// Walks `parents` below the root, making missing directories (0755,
    /// root-owned, as Docker does) and refusing symlinks and non-directories.
    fn resolve_parent(&mut self, raw: &[u8], parents: &[&OsStr]) -> Result<PathBuf, ApplyError> {
        let mut rel = PathBuf::new();
        for part in parents {
            rel.push(part);
            if self.checked.contains(&rel) {
                continue;
            }
            let abs = self.root.join(&rel);
            match fs::symlink_metadata(&abs) {
                Ok(meta) if meta.is_dir() => {}
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(ApplyError::ThroughSymlink {
                        path: lossy(raw),
                        link: rel.to_string_lossy().into_owned(),
                    })
                }
                Ok(_) => {
                    return Err(ApplyError::NotADirectory {
                        path: lossy(raw),
                        parent: rel.to_string_lossy().into_owned(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&abs)
                        .map_err(|source| self.write_err(&rel, source))?;
                }
                Err(source) => return Err(self.write_err(&rel, source)),
            }
            self.checked.insert(rel.clone());
        }
        Ok(rel)
    }

    fn whiteout(&mut self, rel: &Path) -> Result<(), ApplyError> {
        self.clear(rel, false)?;
        whiteout::make_overlay_whiteout(&self.root.join(rel))
            .map_err(|source| self.write_err(rel, source))
    }

    /// Removes whatever is at `rel` unless both it and the new entry are
    /// directories (a later directory entry only updates metadata, as tar).
    fn clear(&mut self, rel: &Path, new_is_dir: bool) -> Result<bool, ApplyError> {
        let abs = self.root.join(rel);
        let meta = match fs::symlink_metadata(&abs) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(source) => return Err(self.write_err(rel, source)),
        };
        if meta.is_dir() && new_is_dir {
            return Ok(true);
        }
        let removed = if meta.is_dir() {
            // A directory becomes something else: nothing below it may still
            // count as checked.
            self.checked.clear();
            fs::remove_dir_all(&abs)
        } else {
            fs::remove_file(&abs)
        };
        removed.map_err(|source| self.write_err(rel, source))?;
        Ok(false)
    }

    fn node<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        kind: tar::EntryType,
        raw: &[u8],
        rel: &Path,
        attrs: Attrs,
    ) -> Result<(), ApplyError> {
        let is_dir = kind == tar::EntryType::Directory;
        let kept_dir = self.clear(rel, is_dir)?;
        let abs = self.root.join(rel);
        let made = match kind {
            tar::EntryType::Directory if kept_dir => Ok(()),
            tar::EntryType::Directory => fs::DirBuilder::new().mode(0o700).create(&abs),
            tar::EntryType::Regular | tar::EntryType::Continuous => write_file(entry, &abs),
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().ok_or_else(|| {
                    ApplyError::Invalid(format!("symlink {:?} has no target", lossy(raw)))
                })?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &abs)
            }
            tar::EntryType::Link => return self.hard_link(entry, raw, rel, &attrs),
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                make_device(entry, kind, &abs, attrs.mode)
            }
            other => {
                return Err(ApplyError::Unsupported {
                    path: lossy(raw),
                    kind: format!("{other:?}"),
                })
            }
        };
        made.map_err(|source| match source.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => {
                ApplyError::malformed(source)
            }
            _ => self.write_err(rel, source),
        })?;
        self.set_attrs(rel, &attrs, kind != tar::EntryType::Symlink)
    }

    /// A hard link's target must already be a non-directory inside the
    /// snapshot, reached without symlinks; a link to anything else could
    /// expose or overwrite a host file.
    fn hard_link<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        raw: &[u8],
        rel: &Path,
        attrs: &Attrs,
    ) -> Result<(), ApplyError> {
        let target_raw = entry.link_name_bytes().unwrap_or_default().into_owned();
        let bad = || ApplyError::BadLink {
            path: lossy(raw),
            target: lossy(&target_raw),
        };
        let parts = components(&target_raw).map_err(|_| bad())?;
        let (name, parents) = parts.split_last().ok_or_else(bad)?;
        let mut target_rel = PathBuf::new();
        for part in parents {
            target_rel.push(part);
            match fs::symlink_metadata(self.root.join(&target_rel)) {
                Ok(meta) if meta.is_dir() => {}
                _ => return Err(bad()),
            }
        }
        target_rel.push(name);
        let target_abs = self.root.join(&target_rel);
        match fs::symlink_metadata(&target_abs) {
            Ok(meta) if !meta.is_dir() => {}
            _ => return Err(bad()),
        }
        fs::hard_link(&target_abs, self.root.join(rel))
            .map_err(|source| self.write_err(rel, source))?;
        let is_symlink =
            fs::symlink_metadata(&target_abs).is_ok_and(|m| m.file_type().is_symlink());
        self.set_attrs(rel, attrs, !is_symlink)
    }

    fn set_attrs(&mut self, rel: &Path, attrs: &Attrs, chmod: bool) -> Result<(), ApplyError> {
        let abs = self.root.join(rel);
        let err = |source| ApplyError::Write {
            path: abs.clone(),
            source,
        };
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &abs,
            Some(Uid::from_raw(attrs.uid)),
            Some(Gid::from_raw(attrs.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        // EINVAL: an owner the user namespace does not map (a rootless
        // kiln without subordinate IDs); the file stays root's, as that
        // kiln warns.
        .or_else(|e| match e {
            nix::errno::Errno::EINVAL => Ok(()),
            e => Err(e),
        })
        .map_err(|e| err(io::Error::from(e)))?;
        for (name, value) in &attrs.xattrs {
            xattr::set(&abs, name, value).map_err(err)?;
        }
        // After chown, which clears setuid/setgid bits.
        if chmod {
            fs::set_permissions(&abs, fs::Permissions::from_mode(attrs.mode)).map_err(err)?;
        }
        let meta = fs::symlink_metadata(&abs).map_err(err)?;
        if meta.is_dir() {
            self.dir_times.push((rel.to_path_buf(), attrs.mtime));
            return Ok(());
        }
        let time = filetime::FileTime::from_unix_time(attrs.mtime, 0);
        filetime::set_symlink_file_times(&abs, time, time).map_err(err)
    }

    fn finish(self) -> Result<(), ApplyError> {
        for (rel, mtime) in self.dir_times.iter().rev() {
            let abs = self.root.join(rel);
            let time = filetime::FileTime::from_unix_time(*mtime, 0);
            filetime::set_symlink_file_times(&abs, time, time)
                .map_err(|source| ApplyError::Write { path: abs, source })?;
        }
        Ok(())
    }

    fn write_err(&self, rel: &Path, source: io::Error) -> ApplyError {
        ApplyError::Write {
            path: self.root.join(rel),
            source,
        }
    }
}

fn read_attrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Attrs, ApplyError> {
    let header = entry.header();
    let number = |v: io::Result<u64>| v.map_err(ApplyError::Malformed);
    let mut attrs = Attrs {
        mode: header.mode().map_err(ApplyError::Malformed)? & 0o7777,
        uid: u32::try_from(number(header.uid())?).map_err(|_| bad_owner())?,
        gid: u32::try_from(number(header.gid())?).map_err(|_| bad_owner())?,
        mtime: i64::try_from(number(header.mtime())?).unwrap_or(i64::MAX),
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions().map_err(ApplyError::Malformed)? {
        for ext in exts {
            let ext = ext.map_err(ApplyError::Malformed)?;
            let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                continue;
            };
            let name = OsStr::from_bytes(name);
            // A layer must not forge overlayfs's own markers; whiteouts are
            // spelled as OCI names.
            if !whiteout::is_overlay_xattr(name) {
                attrs
                    .xattrs
                    .push((name.to_os_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(attrs)
}

fn bad_owner() -> ApplyError {
    ApplyError::Invalid("uid or gid out of range".to_string())
}

fn write_file<R: Read>(entry: &mut tar::Entry<'_, R>, abs: &Path) -> io::Result<()> {
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(abs)?;
    let want = entry.size();
    let got = io::copy(entry, &mut file)?;
    if got != want {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "entry data is cut short",
        ));
    }
    // Small files are left to the one flush at the end: a call each would
    // cost more than it saves.
    if got >= WRITEBACK_AT {
        durable::start_writeback(&file);
    }
    Ok(())
}

fn make_device<R: Read>(
    entry: &tar::Entry<'_, R>,
    kind: tar::EntryType,
    abs: &Path,
    mode: u32,
) -> io::Result<()> {
    let header = entry.header();
    let (sflag, major, minor) = match kind {
        tar::EntryType::Char | tar::EntryType::Block => {
            let sflag = if kind == tar::EntryType::Char {
                SFlag::S_IFCHR
            } else {
                SFlag::S_IFBLK
            };
            let major = header.device_major()?.unwrap_or(0);
            (sflag, major, header.device_minor()?.unwrap_or(0))
        }
        // Many writers leave a fifo's device fields blank.
        _ => (SFlag::S_IFIFO, 0, 0),
    };
    let dev = nix::sys::stat::makedev(u64::from(major), u64::from(minor));
    nix::sys::stat::mknod(abs, sflag, Mode::from_bits_truncate(mode & 0o777), dev)
        .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_drop_root_and_dots_and_refuse_parent() {
        let parts = components(b"/./etc//passwd").unwrap();
        assert_eq!(parts, vec![OsStr::new("etc"), OsStr::new("passwd")]);
        assert!(matches!(
            components(b"a/../../x"),
            Err(ApplyError::Escape(_))
        ));
        assert!(components(b"./").unwrap().is_empty());
    }
}
