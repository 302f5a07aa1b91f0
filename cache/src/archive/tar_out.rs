//! The outer tar of an archive `save` writes: fixed owner, mode and mtime
//! on every entry, so the same images give the same archive bytes.

use std::io::{self, Read, Write};

pub(crate) struct TarOut<W: Write> {
    builder: tar::Builder<W>,
}

impl<W: Write> TarOut<W> {
    pub(crate) fn new(out: W) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Deterministic);
        TarOut { builder }
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    }

    pub(crate) fn dir(&mut self, path: &str) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
        self.builder.append_data(&mut h, path, io::empty())
    }

    pub(crate) fn bytes(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, bytes.len() as u64, 0o644);
        self.builder.append_data(&mut h, path, bytes)
    }

    /// Appends `size` bytes read from `data`; fewer is an error (a blob
    /// shrinking under us must not produce a corrupt archive silently).
    pub(crate) fn reader<R: Read>(&mut self, path: &str, size: u64, data: R) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, size, 0o644);
        let mut exact = ExactReader {
            inner: data,
            left: size,
        };
        self.builder.append_data(&mut h, path, &mut exact)?;
        if exact.left != 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path} ended early"),
            ));
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.left as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}
