//! A blob's body that survives a cut or stalled connection. Layers are
//! large and connections do break: when a read fails (a reset, a body cut
//! short, no data within the read timeout), the blob is asked for again
//! from the first byte not yet read, with `Range: bytes=N-`. A registry
//! that ignores the range sends the whole blob, and the bytes already read
//! are skipped. Either way the caller sees one unbroken stream, and its
//! digest check judges the result. A few attempts, then a typed error that
//! names the registry, the blob and what went wrong last.

use std::io::{self, Read};
use std::thread;
use std::time::Duration;

use reqwest::blocking::Response;
use reqwest::{header, StatusCode};

use crate::digest::Digest;

use super::client::Client;
use super::RegistryError;

/// Requests after the first one, per blob.
pub const BLOB_RETRIES: u32 = 3;
/// Doubled before each further retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
#[error(
    "registry {host}: downloading blob {digest} failed after {attempts} attempts (at byte {done} of {size})"
)]
pub struct TransferError {
    pub host: String,
    pub digest: Digest,
    pub attempts: u32,
    pub done: u64,
    pub size: u64,
    #[source]
    pub cause: Cause,
}

impl TransferError {
    /// The transfer error an IO error carries (as [`BlobReader`] returns
    /// it), or the IO error back.
    pub fn take_from(err: io::Error) -> Result<TransferError, io::Error> {
        if !err.get_ref().is_some_and(|e| e.is::<TransferError>()) {
            return Err(err);
        }
        let kind = err.kind();
        match err
            .into_inner()
            .map(|inner| inner.downcast::<TransferError>())
        {
            Some(Ok(found)) => Ok(*found),
            Some(Err(other)) => Err(io::Error::new(kind, other)),
            None => Err(io::Error::from(kind)),
        }
    }
}

/// Reads exactly `size` bytes of one blob, re-requesting it after a failed
/// read; see the module's comment.
pub struct BlobReader<'c> {
    client: &'c Client,
    digest: Digest,
    size: u64,
    done: u64,
    /// Requests made so far.
    attempts: u32,
    body: Option<Response>,
}

impl<'c> BlobReader<'c> {
    pub(crate) fn open(
        client: &'c Client,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobReader<'c>, RegistryError> {
        let mut reader = BlobReader {
            client,
            digest: *digest,
            size,
            done: 0,
            attempts: 0,
            body: None,
        };
        // A first request that fails outright (a 404, a refused token) is
        // the registry's answer, not a broken transfer: no retry.
        match reader.request() {
            Ok(body) => reader.body = Some(body),
            Err(e) if transient(&e) => {
                reader
                    .retry(Box::new(e))
                    .map_err(|e| match TransferError::take_from(e) {
                        Ok(t) => RegistryError::Transfer(t),
                        Err(e) => RegistryError::Read {
                            digest: *digest,
                            source: e,
                        },
                    })?
            }
            Err(e) => return Err(e),
        }
        Ok(reader)
    }

    /// One request for the rest of the blob, positioned at `done`.
    fn request(&mut self) -> Result<Response, RegistryError> {
        self.attempts += 1;
        let mut resp = self.client.get_blob_from(&self.digest, self.done)?;
        if self.done == 0 {
            return Ok(resp);
        }
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let start = format!("bytes {}-", self.done);
                let range = resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !range.starts_with(&start) {
                    return Err(RegistryError::Protocol(format!(
                        "registry {}: asked for blob {} from byte {}, got Content-Range {range:?}",
                        self.client.endpoint().host,
                        self.digest,
                        self.done
                    )));
                }
            }
            _ => {
                // The range was ignored: the whole blob again.
                let skipped = io::copy(&mut (&mut resp).take(self.done), &mut io::sink()).map_err(
                    |source| RegistryError::Read {
                        digest: self.digest,
                        source,
                    },
                )?;
                if skipped != self.done {
                    return Err(RegistryError::Read {
                        digest: self.digest,
                        source: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the blob sent again is shorter than what was read before",
                        ),
                    });
                }
            }
        }
        Ok(resp)
    }

    /// Re-requests the blob until a request succeeds or the attempts are
    /// spent; the error then is a [`TransferError`] inside an IO error.
    fn retry(&mut self, mut last: Cause) -> io::Result<()> {
        self.body = None;
        loop {
            if self.attempts > BLOB_RETRIES {
                return Err(self.give_up(last));
            }
            thread::sleep(FIRST_BACKOFF * 2u32.pow(self.attempts.saturating_sub(1).min(4)));
            match self.request() {
                Ok(body) => {
                    self.body = Some(body);
                    return Ok(());
                }
                Err(e) if transient(&e) => last = Box::new(e),
                Err(e) => return Err(self.give_up(Box::new(e))),
            }
        }
    }

    fn give_up(&self, cause: Cause) -> io::Error {
        let cause: Cause = if is_timeout(cause.as_ref()) {
            format!(
                "no data for {}",
                humantime::format_duration(self.client.endpoint().timeouts.read)
            )
            .into()
        } else {
            cause
        };
        let kind = match cause.downcast_ref::<io::Error>() {
            Some(e) => e.kind(),
            None => io::ErrorKind::Other,
        };
        io::Error::new(
            kind,
            TransferError {
                host: self.client.endpoint().host.clone(),
                digest: self.digest,
                attempts: self.attempts,
                done: self.done,
                size: self.size,
                cause,
            },
        )
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Bounded: every failure spends an attempt, and retry gives up once
        // they are spent.
        loop {
            let left = self.size - self.done;
            if left == 0 || buf.is_empty() {
                return Ok(0);
            }
            let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
            let Some(body) = self.body.as_mut() else {
                let gone = io::Error::other("the transfer failed before");
                return Err(self.give_up(Box::new(gone)));
            };
            let failure = match body.read(&mut buf[..want]) {
                Ok(0) => io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the connection closed at byte {} of {}",
                        self.done, self.size
                    ),
                ),
                Ok(n) => {
                    self.done += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            self.retry(Box::new(failure))?;
        }
    }
}

/// A failure of the connection rather than an answer of the registry.
fn transient(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::Http { .. } | RegistryError::Timeout { .. } | RegistryError::Read { .. }
    )
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    // Bounded: error chains are short; a cycle must not hang us.
    for _ in 0..16 {
        let Some(e) = cur else { return false };
        if matches!(
            e.downcast_ref::<RegistryError>(),
            Some(RegistryError::Timeout { .. })
        ) || e
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|r| r.is_timeout())
            || e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = match e.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => e.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use super::*;
    use crate::registry::config::{RegistryConfig, Timeouts};

    const BLOB_LEN: usize = 300_000;

    fn blob() -> Vec<u8> {
        (0..BLOB_LEN).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// How the test server answers one blob request.
    #[derive(Clone, Copy)]
    enum Serve {
        /// Honours Range; the first response is cut after `cut` bytes.
        CutThenRange { cut: usize },
        /// Ignores Range; the first response is cut.
        CutThenWhole { cut: usize },
        /// Every response is cut.
        AlwaysCut { cut: usize },
    }

    /// A one-blob registry on 127.0.0.1; returns its address and the
    /// `Range` header of each request it saw ("" for none).
    fn server(mode: Serve) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            // Bounded: a test makes at most BLOB_RETRIES + 1 requests.
            for (n, conn) in listener.incoming().flatten().enumerate().take(8) {
                answer(conn, mode, n == 0, &log);
            }
        });
        (addr, seen)
    }

    /// Logs the request before answering: the client may be done as soon
    /// as the answer is out.
    fn answer(conn: TcpStream, mode: Serve, first: bool, log: &Mutex<Vec<String>>) {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut range = String::new();
        for _ in 0..100 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                range = v.trim().trim_end_matches('-').to_string();
            }
        }
        log.lock().unwrap().push(range.clone());
        let data = blob();
        let (status, body, extra) = match (mode, range.parse::<usize>()) {
            (Serve::CutThenRange { .. } | Serve::AlwaysCut { .. }, Ok(from)) => (
                "206 Partial Content",
                &data[from..],
                format!(
                    "Content-Range: bytes {from}-{}/{BLOB_LEN}\r\n",
                    BLOB_LEN - 1
                ),
            ),
            _ => ("200 OK", &data[..], String::new()),
        };
        let cut = match mode {
            Serve::CutThenRange { cut } | Serve::CutThenWhole { cut } if first => Some(cut),
            Serve::AlwaysCut { cut } => Some(cut),
            _ => None,
        };
        let mut conn = conn;
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(&body[..cut.unwrap_or(body.len()).min(body.len())]);
    }

    fn client(addr: &str, read: Duration) -> Client {
        let config = RegistryConfig {
            timeouts: Timeouts {
                connect: Duration::from_secs(5),
                read,
            },
            ..RegistryConfig::default()
        };
        Client::new(config.endpoint(addr), "app", None).unwrap()
    }

    fn digest() -> Digest {
        Digest::of_bytes(&blob())
    }

    /// Reads the whole blob from a server serving it as `serve` says;
    /// asserts the bytes and returns the Range values the server saw.
    fn read_through(serve: Serve) -> Vec<String> {
        let (addr, seen) = server(serve);
        let client = client(&addr, Duration::from_secs(10));
        let mut got = Vec::new();
        client
            .blob_reader(&digest(), BLOB_LEN as u64)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == blob(), "the bytes differ");
        let seen = seen.lock().unwrap().clone();
        seen
    }

    #[test]
    fn a_cut_transfer_resumes_with_a_range_request() {
        let seen = read_through(Serve::CutThenRange { cut: 100_000 });
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], "");
        let from: usize = seen[1].parse().unwrap();
        assert!(from > 0 && from <= 100_000, "{seen:?}");
    }

    #[test]
    fn a_registry_that_ignores_range_is_read_again_from_the_start() {
        let seen = read_through(Serve::CutThenWhole { cut: 150_000 });
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn retries_are_bounded_and_the_error_names_registry_and_blob() {
        let (addr, seen) = server(Serve::AlwaysCut { cut: 1000 });
        let client = client(&addr, Duration::from_secs(10));
        let mut got = Vec::new();
        let err = client
            .blob_reader(&digest(), BLOB_LEN as u64)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap_err();
        let err = TransferError::take_from(err).unwrap();
        assert_eq!(err.attempts, BLOB_RETRIES + 1);
        assert_eq!(seen.lock().unwrap().len(), (BLOB_RETRIES + 1) as usize);
        let text = err.to_string();
        assert!(text.contains(&format!("registry {addr}")), "{text}");
        assert!(text.contains(&digest().to_string()), "{text}");
    }

    #[test]
    fn a_registry_that_never_answers_times_out_naming_itself() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let client = client(&addr, Duration::from_millis(300));
        let start = Instant::now();
        let err = client.get_manifest("latest").err().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        assert!(matches!(err, RegistryError::Timeout { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("registry {addr} did not respond to GET")),
            "{text}"
        );
        drop(listener);
    }
}
