//! A cap on tar metadata entries, checked before the tar crate sees them.
//!
//! The tar crate reads a GNU long name (`L`), long link name (`K`) or PAX
//! extended header (`x`) into memory whole, whatever size its header claims:
//! a 200 MB long name costs a gigabyte. Go's archive/tar refuses such
//! entries above 1 MiB, and so does kiln, for every tar it did not write
//! (layers, image archives, ADD archives, stdin contexts).
//!
//! [`LimitedTar`] sits between the byte stream and `tar::Archive` and follows
//! the archive's framing as the tar crate (0.4.46) does: the same checksum
//! rule, the same size fields (base-256 included), a PAX `size` record
//! overriding the next member's size, GNU sparse extension blocks between a
//! header and its data. Where the tar crate would fail (bad checksum, bad
//! size), this reader stops looking, since the crate stops reading there.
//! A header is judged when its last byte passes, before the caller gets it,
//! so the crate never starts to read an oversized entry.

use std::fmt;
use std::io::{self, Read};

/// Go's `maxSpecialFileSize`.
pub const SPECIAL_ENTRY_LIMIT: u64 = 1 << 20;

const BLOCK: usize = 512;

/// The metadata entries that readers hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialEntry {
    LongName,
    LongLinkName,
    PaxHeader,
    PaxGlobalHeader,
}

impl SpecialEntry {
    fn of(kind: u8) -> Option<SpecialEntry> {
        match kind {
            b'L' => Some(SpecialEntry::LongName),
            b'K' => Some(SpecialEntry::LongLinkName),
            b'x' => Some(SpecialEntry::PaxHeader),
            b'g' => Some(SpecialEntry::PaxGlobalHeader),
            _ => None,
        }
    }
}

impl fmt::Display for SpecialEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpecialEntry::LongName => "long name",
            SpecialEntry::LongLinkName => "long link name",
            SpecialEntry::PaxHeader => "PAX extended header",
            SpecialEntry::PaxGlobalHeader => "PAX global header",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{tar}: entry at offset {offset}: {kind} of {size} bytes exceeds the 1 MiB limit")]
pub struct TarLimitError {
    /// Which tar: "layer tar", "image archive", …
    pub tar: &'static str,
    /// Of the entry's header in the uncompressed tar.
    pub offset: u64,
    pub kind: SpecialEntry,
    pub size: u64,
}

impl TarLimitError {
    /// The limit error an IO error carries, however deeply the tar crate
    /// wrapped it (its `unpack` wraps iteration errors in its own type).
    pub fn find(err: &io::Error) -> Option<&TarLimitError> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = err.get_ref().map(|e| e as _);
        // Bounded: error chains are short; a cycle must not hang us.
        for _ in 0..16 {
            let e = cur?;
            if let Some(found) = e.downcast_ref::<TarLimitError>() {
                return Some(found);
            }
            cur = match e.downcast_ref::<io::Error>() {
                Some(io) => io.get_ref().map(|e| e as _),
                None => e.source(),
            };
        }
        None
    }
}

enum State {
    /// Collecting a header block.
    Header,
    /// Collecting a GNU sparse extension block; then `data` bytes follow.
    SparseExt { data: u64 },
    /// Member data (and padding) the reader need not look at.
    Skip(u64),
    /// A PAX header's records, kept to learn a `size` record; then padding.
    Pax { left: u64, pad: u64 },
    /// The tar crate fails at this point; nothing after it is read as tar.
    Lost,
}

/// A `Read` over a tar stream that fails with [`TarLimitError`] (inside an
/// `io::Error`) at the first oversized metadata entry.
pub struct LimitedTar<R> {
    inner: R,
    tar: &'static str,
    pos: u64,
    state: State,
    block: Box<[u8; BLOCK]>,
    filled: usize,
    pax: Vec<u8>,
    /// The `size` record of the PAX header that describes the next member.
    pax_size: Option<u64>,
    failed: Option<TarLimitError>,
}

impl<R: Read> LimitedTar<R> {
    /// `tar` names the stream in errors ("layer tar", "image archive").
    pub fn new(inner: R, tar: &'static str) -> Self {
        LimitedTar {
            inner,
            tar,
            pos: 0,
            state: State::Header,
            block: Box::new([0; BLOCK]),
            filled: 0,
            pax: Vec::new(),
            pax_size: None,
            failed: None,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    fn observe(&mut self, mut bytes: &[u8]) -> Result<(), TarLimitError> {
        while !bytes.is_empty() {
            let taken = match self.state {
                State::Lost => return Ok(()),
                State::Skip(left) => {
                    let k = take(left, bytes.len());
                    self.state = skip(left - k as u64);
                    k
                }
                State::Pax { left, pad } => {
                    let k = take(left, bytes.len());
                    self.pax.extend_from_slice(&bytes[..k]);
                    if left == k as u64 {
                        self.pax_size = pax_size(&self.pax);
                        self.pax = Vec::new();
                        self.state = skip(pad);
                    } else {
                        self.state = State::Pax {
                            left: left - k as u64,
                            pad,
                        };
                    }
                    k
                }
                State::Header | State::SparseExt { .. } => {
                    let k = (BLOCK - self.filled).min(bytes.len());
                    self.block[self.filled..self.filled + k].copy_from_slice(&bytes[..k]);
                    self.filled += k;
                    if self.filled == BLOCK {
                        self.filled = 0;
                        let offset = self.pos + k as u64 - BLOCK as u64;
                        self.block_done(offset)?;
                    }
                    k
                }
            };
            self.pos += taken as u64;
            bytes = &bytes[taken..];
        }
        Ok(())
    }

    fn block_done(&mut self, offset: u64) -> Result<(), TarLimitError> {
        if let State::SparseExt { data } = self.state {
            let mut ext = tar::GnuExtSparseHeader::new();
            ext.as_mut_bytes().copy_from_slice(&self.block[..]);
            if !ext.is_extended() {
                self.state = skip(data);
            }
            return Ok(());
        }
        // Zero blocks end the archive for the tar crate, or are skipped
        // (`set_ignore_zeros`); looking on is right either way.
        if self.block.iter().all(|b| *b == 0) {
            return Ok(());
        }
        let mut header = tar::Header::new_old();
        header.as_mut_bytes().copy_from_slice(&self.block[..]);
        let sum = self.block[..148]
            .iter()
            .chain(&self.block[156..])
            .map(|b| u32::from(*b))
            .sum::<u32>()
            + 8 * 32;
        let Ok(mut size) = header.entry_size() else {
            self.state = State::Lost;
            return Ok(());
        };
        if header.cksum().ok() != Some(sum) {
            self.state = State::Lost;
            return Ok(());
        }
        let kind = header.entry_type();
        let special = SpecialEntry::of(kind.as_byte());
        if special.is_some() && size > SPECIAL_ENTRY_LIMIT {
            return Err(TarLimitError {
                tar: self.tar,
                offset,
                kind: special.unwrap_or(SpecialEntry::LongName),
                size,
            });
        }
        // As the crate: a PAX size applies to the member, never to another
        // metadata entry; L, K and x only count as metadata with a ustar or
        // GNU magic, and anything else is the member, which ends the group.
        if special.is_none() {
            if let Some(pax) = self.pax_size {
                size = pax;
            }
        }
        let recognized = header.as_gnu().is_some() || header.as_ustar().is_some();
        let metadata = recognized
            && matches!(
                special,
                Some(SpecialEntry::LongName | SpecialEntry::LongLinkName | SpecialEntry::PaxHeader)
            );
        if !metadata {
            self.pax_size = None;
        }
        let Some(padded) = size
            .checked_add(BLOCK as u64 - 1)
            .map(|s| s & !(BLOCK as u64 - 1))
        else {
            self.state = State::Lost;
            return Ok(());
        };
        self.state = if metadata && special == Some(SpecialEntry::PaxHeader) {
            self.pax = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            State::Pax {
                left: size,
                pad: padded - size,
            }
        } else if !metadata && kind.is_gnu_sparse() {
            match header.as_gnu() {
                Some(gnu) if gnu.is_extended() => State::SparseExt { data: padded },
                Some(_) => skip(padded),
                None => State::Lost,
            }
        } else {
            skip(padded)
        };
        if matches!(self.state, State::Pax { left: 0, .. }) {
            self.pax_size = None;
            self.state = skip(padded);
        }
        Ok(())
    }
}

fn take(left: u64, available: usize) -> usize {
    usize::try_from(left).map_or(available, |l| l.min(available))
}

fn skip(n: u64) -> State {
    if n == 0 {
        State::Header
    } else {
        State::Skip(n)
    }
}

/// The tar crate's reading of a PAX `size` record: the first one, unless a
/// malformed record comes before it; a value that is not a number is none.
fn pax_size(records: &[u8]) -> Option<u64> {
    for ext in tar::PaxExtensions::new(records) {
        let ext = ext.ok()?;
        if ext.key() != Ok("size") {
            continue;
        }
        return ext.value().ok()?.parse().ok();
    }
    None
}

impl<R: Read> Read for LimitedTar<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
        }
        let n = self.inner.read(buf)?;
        if let Err(e) = self.observe(&buf[..n]) {
            self.failed = Some(e.clone());
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header block of `kind` claiming `size` bytes, with a GNU magic.
    fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        h
    }

    /// A tar: one metadata entry of `kind` holding `body`, then a file.
    fn tar_with(kind: tar::EntryType, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(header("././@LongLink", kind, body.len() as u64).as_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().next_multiple_of(BLOCK), 0);
        out.extend_from_slice(header("f", tar::EntryType::Regular, 2).as_bytes());
        out.extend_from_slice(b"hi");
        out.resize(out.len().next_multiple_of(BLOCK) + 2 * BLOCK, 0);
        out
    }

    /// Every entry's path, read through the limit.
    fn read_paths(tar: &[u8]) -> Result<Vec<Vec<u8>>, io::Error> {
        let mut archive = tar::Archive::new(LimitedTar::new(tar, "test tar"));
        let mut paths = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            paths.push(entry.path_bytes().into_owned());
            io::copy(&mut entry, &mut io::sink())?;
        }
        Ok(paths)
    }

    fn limit_error(tar: &[u8]) -> TarLimitError {
        let err = read_paths(tar).unwrap_err();
        TarLimitError::find(&err)
            .cloned()
            .unwrap_or_else(|| panic!("not a limit error: {err}"))
    }

    #[test]
    fn a_2_mib_gnu_long_name_is_refused_before_it_is_read() {
        let mut name = vec![b'a'; 2 << 20];
        name.push(0);
        let err = limit_error(&tar_with(tar::EntryType::GNULongName, &name));
        assert_eq!(err.kind, SpecialEntry::LongName);
        assert_eq!(err.offset, 0);
        assert_eq!(err.size, (2 << 20) + 1);
        assert_eq!(
            err.to_string(),
            "test tar: entry at offset 0: long name of 2097153 bytes exceeds the 1 MiB limit"
        );
    }

    #[test]
    fn a_2_mib_long_link_name_is_refused() {
        let err = limit_error(&tar_with(tar::EntryType::GNULongLink, &vec![b'b'; 2 << 20]));
        assert_eq!(err.kind, SpecialEntry::LongLinkName);
    }

    #[test]
    fn a_2_mib_pax_record_is_refused() {
        let value = "c".repeat(2 << 20);
        let record = format!("{} path={value}\n", value.len() + 7 + 8);
        let err = limit_error(&tar_with(tar::EntryType::XHeader, record.as_bytes()));
        assert_eq!(err.kind, SpecialEntry::PaxHeader);
        let global = limit_error(&tar_with(tar::EntryType::XGlobalHeader, record.as_bytes()));
        assert_eq!(global.kind, SpecialEntry::PaxGlobalHeader);
    }

    #[test]
    fn a_long_name_of_1000_bytes_is_read() {
        let mut name = vec![b'd'; 1000];
        name.push(0);
        let paths = read_paths(&tar_with(tar::EntryType::GNULongName, &name)).unwrap();
        assert_eq!(paths, vec![vec![b'd'; 1000]]);
    }

    #[test]
    fn the_offset_names_a_later_entry() {
        let mut tar = tar_with(tar::EntryType::Regular, b"first");
        tar.truncate(tar.len() - 2 * BLOCK);
        let at = tar.len() as u64;
        tar.extend_from_slice(&tar_with(tar::EntryType::GNULongName, &vec![b'e'; 3 << 20]));
        assert_eq!(limit_error(&tar).offset, at);
    }

    /// A member's data that looks like an oversized long name header is
    /// data: the limit follows the framing, including a PAX size record.
    #[test]
    fn header_lookalikes_inside_member_data_are_data() {
        let fake = header("x", tar::EntryType::GNULongName, 5 << 20);
        let mut tar = tar_with(tar::EntryType::Regular, fake.as_bytes());
        tar.truncate(tar.len() - 2 * BLOCK);
        // The PAX size (512) overrides the member header's size (0).
        let record = b"12 size=512\n";
        let mut pax = tar_with(tar::EntryType::XHeader, record);
        pax.truncate(BLOCK * 2);
        tar.extend_from_slice(&pax);
        tar.extend_from_slice(header("g", tar::EntryType::Regular, 0).as_bytes());
        tar.extend_from_slice(fake.as_bytes());
        tar.extend_from_slice(&[0; 2 * BLOCK]);
        let paths = read_paths(&tar).unwrap();
        assert_eq!(
            paths,
            vec![b"././@LongLink".to_vec(), b"f".to_vec(), b"g".to_vec()]
        );

        // Without the PAX size, the same block is a header, and refused.
        let mut plain = tar_with(tar::EntryType::Regular, b"");
        plain.truncate(BLOCK);
        plain.extend_from_slice(fake.as_bytes());
        assert_eq!(limit_error(&plain).kind, SpecialEntry::LongName);
    }

    #[test]
    fn layer_apply_refuses_and_leaves_no_snapshot() {
        let tar = tar_with(tar::EntryType::GNULongName, &vec![b'g'; 2 << 20]);
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("snapshot");
        let err = crate::layer::apply(&tar[..], &target).unwrap_err();
        assert!(
            matches!(&err, crate::layer::ApplyError::Limit(e) if e.tar == "layer tar"),
            "{err:?}"
        );
        assert!(!target.exists());
    }

    #[test]
    fn load_refuses_and_stores_nothing() {
        let mut record = "h".repeat(2 << 20);
        record = format!("{} path={record}\n", record.len() + 7 + 8);
        let tar = tar_with(tar::EntryType::XHeader, record.as_bytes());
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let err = crate::archive::load(&store, &tar[..]).unwrap_err();
        assert!(
            matches!(&err, crate::archive::ArchiveError::Limit(e) if e.tar == "image archive"),
            "{err:?}"
        );
        let staging: Vec<_> = std::fs::read_dir(dir.path().join("tmp"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(staging.is_empty(), "{staging:?}");
    }

    #[test]
    fn reads_split_anywhere_give_the_same_verdict() {
        let tar = tar_with(tar::EntryType::GNULongName, &vec![b'f'; 2 << 20]);
        let mut limited = LimitedTar::new(&tar[..], "t");
        let mut buf = [0u8; 7];
        let mut total = 0usize;
        let err = loop {
            match limited.read(&mut buf) {
                Ok(0) => panic!("read to the end"),
                Ok(n) => total += n,
                Err(e) => break e,
            }
        };
        assert!(total < BLOCK, "{total}");
        assert!(TarLimitError::find(&err).is_some());
        // Sticky: a caller that reads on gets the same error.
        assert!(limited.read(&mut buf).is_err());
    }
}
