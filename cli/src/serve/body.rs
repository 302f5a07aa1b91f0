//! Bodies between hyper's async connections and the engine's blocking
//! calls: a request body read as `std::io::Read`, and a response body fed
//! by a `std::io::Write` (a followed log, a build's progress). Both go
//! through bounded channels, so a slow client slows the writer instead of
//! filling memory.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;

pub type Body = http_body_util::combinators::BoxBody<Bytes, io::Error>;

/// How many chunks may wait between a writer and a slow reader.
const CHANNEL_DEPTH: usize = 16;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A response body whose bytes come from a [`BodyWriter`].
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// The writing end of a streamed response; fails with `BrokenPipe` once
/// the client is gone, which ends the blocking work feeding it.
#[derive(Clone)]
pub struct BodyWriter {
    tx: mpsc::Sender<Bytes>,
}

pub fn channel() -> (BodyWriter, Body) {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    (BodyWriter { tx }, ChannelBody { rx }.boxed())
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.tx
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A request body as a blocking reader; an error in the body (a client
/// that breaks the chunked encoding or goes away) is a read error.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

/// Starts pumping `incoming` into a reader; must be called within the
/// server's runtime.
pub fn reader(mut incoming: Incoming) -> BodyReader {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::spawn(async move {
        while let Some(frame) = incoming.frame().await {
            let item = match frame {
                Ok(f) => match f.into_data() {
                    Ok(data) => Ok(data),
                    Err(_trailers) => continue,
                },
                Err(e) => Err(io::Error::other(e)),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    BodyReader {
        rx,
        current: Bytes::new(),
    }
}

/// A body already taken: reads as empty.
pub fn closed() -> BodyReader {
    let (_, rx) = mpsc::channel(1);
    BodyReader {
        rx,
        current: Bytes::new(),
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// The body whole, refusing one larger than `limit`.
pub fn read_all(reader: &mut BodyReader, limit: usize) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut data)?;
    if data.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("request body larger than {limit} bytes"),
        ));
    }
    Ok(data)
}
