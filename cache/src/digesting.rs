//! sha256 while bytes pass: layer tars are hashed as they are written or
//! read, never read twice (a diff_id and a blob digest come from one pass).

use std::io::{self, BufRead, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;

/// Counts and hashes what it writes through to `inner`.
pub struct DigestingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> DigestingWriter<W> {
    pub fn new(inner: W) -> Self {
        DigestingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        let digest = Digest::from_sha256_bytes(self.hasher.finalize().into());
        (self.inner, digest, self.len)
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for DigestingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts and hashes what is read through it from `inner`.
pub struct DigestingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> DigestingReader<R> {
    pub fn new(inner: R) -> Self {
        DigestingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Reads the rest of the stream (a tar reader stops at the end-of-archive
    /// blocks, but a diff_id covers every byte) and returns digest and size.
    pub fn drain(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            Digest::from_sha256_bytes(self.hasher.finalize().into()),
            self.len,
        ))
    }
}

impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// The digest and length of everything `reader` has left, hashed where it
/// lies in the reader's buffer.
pub(crate) fn digest_all<R: BufRead>(mut reader: R) -> io::Result<(Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    loop {
        let n = {
            let buf = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(buf);
            buf.len()
        };
        if n == 0 {
            return Ok((Digest::from_sha256_bytes(hasher.finalize().into()), len));
        }
        reader.consume(n);
        len += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_reader_agree_with_one_shot() {
        let data = b"kiln layer bytes".repeat(1000);
        let mut w = DigestingWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (out, digest, len) = w.finish();
        assert_eq!(out, data);
        assert_eq!(len, data.len() as u64);
        assert_eq!(digest, Digest::of_bytes(&data));
        let mut r = DigestingReader::new(&data[..]);
        let mut first = [0u8; 10];
        r.read_exact(&mut first).unwrap();
        assert_eq!(r.drain().unwrap(), (digest, len));
        let small = io::BufReader::with_capacity(7, &data[..]);
        assert_eq!(digest_all(small).unwrap(), (digest, len));
    }
}
