//! An upload's request body streamed from the blob's file: a byte range
//! read by position, so a request that must be sent again (after an
//! authentication challenge) reads the same bytes afresh, and no upload
//! ever holds a blob, or a chunk of one, in memory. reqwest reads the body
//! in small pieces as the connection takes them.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use reqwest::blocking::Body;

/// `len` bytes of `file` from `start`.
#[derive(Debug, Clone)]
pub struct FileRange {
    file: Arc<File>,
    start: u64,
    len: u64,
}

impl FileRange {
    pub fn new(file: Arc<File>, start: u64, len: u64) -> FileRange {
        FileRange { file, start, len }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A fresh body of the range, with its length (a Content-Length, not
    /// a chunked request).
    pub fn body(&self) -> Body {
        let reader = RangeReader {
            file: Arc::clone(&self.file),
            pos: self.start,
            end: self.start + self.len,
        };
        Body::sized(reader, self.len)
    }
}

/// Reads by position: readers of one file never move each other's offset.
struct RangeReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            // A blob that shrank under us: the body would be short of its
            // Content-Length, so say so rather than hang the request.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the blob ended at byte {} of {}", self.pos, self.end),
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(data: &[u8]) -> Arc<File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        Arc::new(f)
    }

    fn read(range: &FileRange) -> io::Result<Vec<u8>> {
        let mut r = RangeReader {
            file: Arc::clone(&range.file),
            pos: range.start,
            end: range.start + range.len,
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn each_reader_reads_its_range_from_the_start() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let range = FileRange::new(file(&data), 1000, 5000);
        assert_eq!(read(&range).unwrap(), &data[1000..6000]);
        // Again, as a request sent a second time reads it.
        assert_eq!(read(&range).unwrap(), &data[1000..6000]);
        assert_eq!(range.len(), 5000);
    }

    #[test]
    fn a_file_shorter_than_the_range_is_an_error() {
        let range = FileRange::new(file(&[1, 2, 3]), 0, 10);
        let err = read(&range).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
