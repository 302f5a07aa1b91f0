//! Docker's hijacked connections (attach, exec start): the client asks to
//! upgrade (`Upgrade: tcp`), the server answers 101 and the connection
//! becomes a raw byte stream, the client's stdin one way and the output
//! the other way, multiplexed in Docker's frames when there is no TTY.
//! The blocking work sees a socketpair end; a task copies between it and
//! the upgraded connection. A client that does not ask to upgrade gets
//! the output as an ordinary streamed body, without stdin.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::upgrade::OnUpgrade;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::body::{self, Body};

/// Docker's content types for the two stream kinds.
pub const RAW: &str = "application/vnd.docker.raw-stream";
pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";

/// The client's side of a hijacked connection, as the work sees it.
pub struct Conn {
    pub input: Box<dyn Read + Send>,
    pub output: Box<dyn Write + Send>,
}

type Work = Box<dyn FnOnce(Conn) + Send>;

pub struct Hijack {
    content_type: &'static str,
    work: Work,
}

impl Hijack {
    pub fn new(tty: bool, work: impl FnOnce(Conn) + Send + 'static) -> Hijack {
        Hijack {
            content_type: if tty { RAW } else { MULTIPLEXED },
            work: Box::new(work),
        }
    }

    pub fn respond(self, upgrade: Option<OnUpgrade>) -> Response<Body> {
        match upgrade {
            Some(on) => self.upgraded(on),
            None => self.streamed(),
        }
    }

    fn upgraded(self, on: OnUpgrade) -> Response<Body> {
        let work = self.work;
        tokio::spawn(async move {
            let Ok(upgraded) = on.await else { return };
            let Ok((ours, theirs)) = UnixStream::pair() else {
                return;
            };
            let Ok(mut theirs) = theirs
                .set_nonblocking(true)
                .and_then(|()| tokio::net::UnixStream::from_std(theirs))
            else {
                return;
            };
            let done = tokio::task::spawn_blocking(move || run(work, ours));
            let mut client = TokioIo::new(upgraded);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut theirs).await;
            let _ = done.await;
        });
        let mut response = Response::new(body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        response
    }

    fn streamed(self) -> Response<Body> {
        let (writer, body) = body::channel();
        let work = self.work;
        tokio::task::spawn_blocking(move || {
            work(Conn {
                input: Box::new(io::empty()),
                output: Box::new(writer),
            })
        });
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        response
    }
}

/// Runs the work on our end of the pair, then shuts the socket down so
/// both directions end even while a thread of the work still reads it.
fn run(work: Work, ours: UnixStream) {
    let (Ok(input), Ok(closer)) = (ours.try_clone(), ours.try_clone()) else {
        return;
    };
    work(Conn {
        input: Box::new(input),
        output: Box::new(ours),
    });
    let _ = closer.shutdown(Shutdown::Both);
}

/// One of the two output streams of a multiplexed connection: each write
/// becomes one frame (stream, three zero bytes, big-endian length, data).
pub struct Framed<W> {
    kind: u8,
    out: Arc<Mutex<W>>,
}

/// The stdout and stderr writers over one connection.
pub fn multiplexed<W: Write>(out: W) -> (Framed<W>, Framed<W>) {
    let out = Arc::new(Mutex::new(out));
    (
        Framed {
            kind: 1,
            out: out.clone(),
        },
        Framed { kind: 2, out },
    )
}

impl<W: Write> Write for Framed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut frame = Vec::with_capacity(8 + buf.len());
        frame.extend_from_slice(&[self.kind, 0, 0, 0]);
        frame.extend_from_slice(&(buf.len() as u32).to_be_bytes());
        frame.extend_from_slice(buf);
        let mut out = self
            .out
            .lock()
            .map_err(|_| io::Error::other("output lock poisoned"))?;
        out.write_all(&frame)?;
        out.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_stream_and_length() {
        let mut buf = Vec::new();
        {
            let (mut out, mut err) = multiplexed(&mut buf);
            out.write_all(b"hi").unwrap();
            err.write_all(b"oops").unwrap();
        }
        assert_eq!(&buf[..10], &[1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(&buf[10..18], &[2, 0, 0, 0, 0, 0, 0, 4]);
    }
}
