//! A bounded pipe between threads that carries a stream in chunks. A
//! layer is read, inflated, hashed and unpacked on threads of their own:
//! on one thread those four run in series and one core does all of it.
//! When one stream feeds two readers (the inflated tar goes to the hasher
//! and to the unpacker) each chunk is shared, not copied.

use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// Bytes per chunk: large enough that a channel send is rare, small
/// enough that [`DEPTH`] of them in flight per reader stay a few MiB.
const CHUNK: usize = 256 << 10;
/// Chunks a writer may be ahead of a reader before it waits.
const DEPTH: usize = 8;

pub(crate) type Chunk = Arc<Vec<u8>>;

/// One reader's end and the sender to hand to a [`PipeWriter`].
pub(crate) fn channel() -> (SyncSender<Chunk>, PipeReader) {
    let (tx, rx) = sync_channel(DEPTH);
    (
        tx,
        PipeReader {
            rx,
            chunk: Arc::new(Vec::new()),
            at: 0,
        },
    )
}

/// Hands every byte to each of its readers. The producer reads straight
/// into the chunk being filled ([`PipeWriter::spare`], then
/// [`PipeWriter::advance`]), so bytes are copied into a pipe by no one.
/// The last partial chunk is sent only by [`PipeWriter::finish`]: a writer
/// dropped on an error path ends its readers' streams short, and the
/// error is the writer's to tell.
pub(crate) struct PipeWriter {
    to: Vec<SyncSender<Chunk>>,
    buf: Vec<u8>,
    filled: usize,
}

impl PipeWriter {
    pub(crate) fn new(to: Vec<SyncSender<Chunk>>) -> PipeWriter {
        PipeWriter {
            to,
            buf: vec![0; CHUNK],
            filled: 0,
        }
    }

    /// Where the next bytes go; never empty.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// Takes the `n` bytes just put at the front of [`PipeWriter::spare`];
    /// a full chunk is sent. Fails when a reader hung up (it stopped on an
    /// error of its own).
    pub(crate) fn advance(&mut self, n: usize) -> io::Result<()> {
        self.filled = (self.filled + n).min(CHUNK);
        if self.filled == CHUNK {
            self.send()?;
        }
        Ok(())
    }

    /// Sends what is buffered; the readers then see the end of the stream.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.send()
    }

    fn send(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let mut chunk = std::mem::replace(&mut self.buf, vec![0; CHUNK]);
        chunk.truncate(std::mem::take(&mut self.filled));
        let chunk = Arc::new(chunk);
        for to in &self.to {
            to.send(chunk.clone())
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        }
        Ok(())
    }
}

/// For a producer that writes (a tar writer): its bytes are copied once,
/// into the chunk being filled.
impl Write for PipeWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let spare = self.spare();
        let n = spare.len().min(bytes.len());
        spare[..n].copy_from_slice(&bytes[..n]);
        self.advance(n)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads `source` to its end into `out`; `Ok(false)` when a reader hung
/// up first. The readers see the end of the stream only after a whole
/// read, never after a failed one.
pub(crate) fn pump<R: Read>(source: &mut R, mut out: PipeWriter) -> io::Result<bool> {
    loop {
        let n = match source.read(out.spare()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if out.advance(n).is_err() {
            return Ok(false);
        }
    }
    Ok(out.finish().is_ok())
}

/// The reading end: the stream ends when every writer is gone.
pub(crate) struct PipeReader {
    rx: Receiver<Chunk>,
    chunk: Chunk,
    at: usize,
}

impl BufRead for PipeReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(next) => (self.chunk, self.at) = (next, 0),
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.chunk[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.chunk.len());
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_readers_get_every_byte_in_order() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 253) as u8).collect();
        let (a, mut ra) = channel();
        let (b, mut rb) = channel();
        std::thread::scope(|s| {
            let first = s.spawn(move || {
                let mut got = Vec::new();
                ra.read_to_end(&mut got).unwrap();
                got
            });
            let second = s.spawn(move || {
                let mut got = Vec::new();
                rb.read_to_end(&mut got).unwrap();
                got
            });
            let w = PipeWriter::new(vec![a, b]);
            // Reads of odd sizes, across chunk boundaries.
            let mut source = io::Read::chain(&data[..1000], &data[1000..]);
            assert!(pump(&mut source, w).unwrap());
            assert!(first.join().unwrap() == data);
            assert!(second.join().unwrap() == data);
        });
    }

    #[test]
    fn a_reader_that_hangs_up_breaks_the_pipe_and_a_dropped_writer_ends_short() {
        let (tx, rx) = channel();
        drop(rx);
        let w = PipeWriter::new(vec![tx]);
        assert!(!pump(&mut &vec![0u8; CHUNK][..], w).unwrap());

        let (tx, mut rx) = channel();
        let mut w = PipeWriter::new(vec![tx]);
        w.spare()[..8].copy_from_slice(b"not sent");
        w.advance(8).unwrap();
        drop(w);
        let mut got = Vec::new();
        rx.read_to_end(&mut got).unwrap();
        assert!(got.is_empty());
    }
}
