//! The outer tar of an image archive, written to a file so that a layer
//! can be compressed straight into it: its header goes in as a placeholder
//! and is rewritten once the compressed size and digest are known. The
//! layer is read, compressed and written once (not compressed into the
//! store and then copied). Every entry has owner 0:0, mtime 0 and a fixed
//! mode, so the same images give the same archive bytes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use kiln_cache::{BlobRef, Digest};
use sha2::{Digest as _, Sha256};

const BLOCK: u64 = 512;

pub struct TarFile {
    out: BufWriter<File>,
    /// Bytes written so far (always a multiple of 512 between entries).
    pos: u64,
}

fn header(kind: tar::EntryType, path: &str, size: u64, mode: u32) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_path(path)?;
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    Ok(h)
}

pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Counts and hashes what passes through to the archive.
struct Digesting<'a> {
    out: &'a mut BufWriter<File>,
    hasher: Sha256,
    size: u64,
}

impl Write for Digesting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl TarFile {
    pub fn new(file: File) -> TarFile {
        TarFile {
            out: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
        }
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rest = (BLOCK - size % BLOCK) % BLOCK;
        self.out.write_all(&vec![0u8; rest as usize])?;
        self.pos += size + rest;
        Ok(())
    }

    pub fn dir(&mut self, path: &str) -> io::Result<()> {
        let h = header(tar::EntryType::Directory, path, 0, 0o755)?;
        self.out.write_all(h.as_bytes())?;
        self.pos += BLOCK;
        Ok(())
    }

    pub fn bytes(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        let h = header(tar::EntryType::Regular, path, data.len() as u64, 0o644)?;
        self.out.write_all(h.as_bytes())?;
        self.pos += BLOCK;
        self.out.write_all(data)?;
        self.pad(data.len() as u64)
    }

    /// Appends `size` bytes of `data` at `path`; a shorter source is an
    /// error (a blob shrinking under us must not make a corrupt archive).
    pub fn copy(&mut self, path: &str, size: u64, data: impl Read) -> io::Result<()> {
        let h = header(tar::EntryType::Regular, path, size, 0o644)?;
        self.out.write_all(h.as_bytes())?;
        self.pos += BLOCK;
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path} ended early"),
            ));
        }
        self.pad(size)
    }

    /// Appends a blob that `fill` writes, named by its digest once it is
    /// known.
    pub fn blob_streamed(
        &mut self,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<BlobRef> {
        let start = self.pos;
        self.out.write_all(&[0u8; BLOCK as usize])?;
        let mut sink = Digesting {
            out: &mut self.out,
            hasher: Sha256::new(),
            size: 0,
        };
        fill(&mut sink)?;
        let (size, hash) = (sink.size, sink.hasher.finalize());
        let digest = Digest::from_sha256_bytes(hash.into());
        self.pos += BLOCK;
        self.pad(size)?;
        let h = header(tar::EntryType::Regular, &blob_path(&digest), size, 0o644)?;
        self.out.seek(SeekFrom::Start(start))?;
        self.out.write_all(h.as_bytes())?;
        self.out.seek(SeekFrom::Start(self.pos))?;
        Ok(BlobRef { digest, size })
    }

    /// Ends the archive (two zero blocks) and flushes it.
    pub fn finish(mut self) -> io::Result<File> {
        self.out.write_all(&[0u8; 2 * BLOCK as usize])?;
        self.out.flush()?;
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_blobs_are_named_by_digest_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let mut t = TarFile::new(File::create(&path).unwrap());
        t.dir("blobs/").unwrap();
        let data = vec![7u8; 1000];
        let blob = t.blob_streamed(|w| w.write_all(&data)).unwrap();
        t.bytes("index.json", b"{}").unwrap();
        t.finish().unwrap();
        assert_eq!(blob.digest, Digest::of_bytes(&data));
        assert_eq!(blob.size, 1000);
        let mut ar = tar::Archive::new(File::open(&path).unwrap());
        let mut names = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            if name.ends_with(&blob.digest.hex()) {
                assert_eq!(body, data);
            }
            names.push(name);
        }
        assert_eq!(names, ["blobs/", &blob_path(&blob.digest), "index.json"]);
    }
}
