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

    /// A registry that answers the first request with a Basic challenge
    /// and the second with 201; returns each request's body.
    fn challenging_registry() -> (String, std::thread::JoinHandle<Vec<Vec<u8>>>) {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for (n, conn) in listener.incoming().flatten().enumerate().take(2) {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut len = 0usize;
                for _ in 0..100 {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).unwrap();
                bodies.push(body);
                let answer = match n {
                    0 => "401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"",
                    _ => "201 Created",
                };
                let mut conn = conn;
                let _ = write!(
                    conn,
                    "HTTP/1.1 {answer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
            bodies
        });
        (addr, server)
    }

    #[test]
    fn an_upload_sent_again_after_a_challenge_sends_the_whole_range_again() {
        use crate::digest::Digest;
        use crate::registry::client::Client;
        use crate::registry::{Credentials, RegistryConfig};
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let (addr, server) = challenging_registry();
        let creds = Credentials {
            username: "u".to_string(),
            password: "p".to_string(),
        };
        let client = Client::new(
            RegistryConfig::default().endpoint(&addr),
            "app",
            Some(creds),
        )
        .unwrap();
        let location =
            reqwest::Url::parse(&format!("http://{addr}/v2/app/blobs/uploads/x")).unwrap();
        let range = FileRange::new(file(&data), 50_000, 100_000);
        client
            .finish_upload(
                &location,
                &Digest::of_bytes(&data[50_000..150_000]),
                Some(&range),
            )
            .unwrap();
        let bodies = server.join().unwrap();
        assert_eq!(bodies.len(), 2);
        for body in bodies {
            assert!(
                body == data[50_000..150_000],
                "a body differs from the range"
            );
        }
    }

    #[test]
    fn a_file_shorter_than_the_range_is_an_error() {
        let range = FileRange::new(file(&[1, 2, 3]), 0, 10);
        let err = read(&range).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
