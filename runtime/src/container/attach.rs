//! `kiln attach` and `start -a -i`: a detached container's monitor keeps
//! its stdio (the pty master under `-t`, the stdin pipe under `-i`) and
//! relays it over `attach.sock` in the container's directory, so any kiln
//! process can join it later. Output goes out in frames (stream, length,
//! bytes) to every client; what a client sends is the container's stdin.
//! The client watches its own stdin for the detach keys (Docker's default
//! Ctrl-P Ctrl-Q) and leaves the container running when it sees them.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::logs::Stream;
use super::terminal::RawMode;

/// The socket's name in the container directory.
pub const SOCKET: &str = "attach.sock";

/// The first byte a client sends: live output only (`attach`), or the
/// output of the current run from its start (`start -a`, which connects
/// just after the start and must not miss the first lines).
const LIVE: u8 = 0;
const FROM_START: u8 = 1;

/// What a run's output a late `start -a` may still get; beyond this the
/// start of the run is dropped (the log has it all).
const REPLAY_CAP: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("attaching to the container: {0}")]
    Io(#[from] io::Error),
    #[error("invalid detach keys {0:?}: use e.g. ctrl-p,ctrl-q")]
    BadKeys(String),
}

/// The monitor's end: the listening socket and its clients.
pub struct Relay {
    listener: UnixListener,
    clients: Vec<Client>,
    replay: Vec<u8>,
}

struct Client {
    sock: UnixStream,
    /// Still sending stdin (not yet shut down its write side).
    reading: bool,
}

impl Relay {
    /// Binds `dir/attach.sock`, replacing a stale one.
    pub fn bind(dir: &Path) -> io::Result<Relay> {
        let path = dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(Relay {
            listener,
            clients: Vec::new(),
            replay: Vec::new(),
        })
    }

    pub fn listener_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Descriptors of clients still sending stdin, in [`Relay::input`]'s order.
    pub fn input_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.clients
            .iter()
            .filter(|c| c.reading)
            .map(|c| c.sock.as_fd())
            .collect()
    }

    /// Takes every pending connection.
    pub fn accept(&mut self) {
        while let Ok((sock, _)) = self.listener.accept() {
            if let Some(c) = self.welcome(sock) {
                self.clients.push(c);
            }
        }
    }

    fn welcome(&self, mut sock: UnixStream) -> Option<Client> {
        sock.set_nonblocking(false).ok()?;
        sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        // A client that stops reading must not stall the container's output.
        sock.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut mode = [0u8];
        sock.read_exact(&mut mode).ok()?;
        sock.set_read_timeout(None).ok()?;
        if mode[0] == FROM_START {
            for chunk in self.replay.chunks(u32::MAX as usize) {
                write_frame(&mut sock, Stream::Stdout, chunk).ok()?;
            }
        }
        Some(Client {
            sock,
            reading: true,
        })
    }

    /// Sends output to every client, dropping those that fail.
    pub fn output(&mut self, stream: Stream, data: &[u8]) {
        if self.replay.len() + data.len() <= REPLAY_CAP && stream == Stream::Stdout {
            self.replay.extend_from_slice(data);
        }
        self.clients
            .retain_mut(|c| write_frame(&mut c.sock, stream, data).is_ok());
    }

    /// Reads what the `n`th reading client sent; `None` once it is done
    /// sending (its stdin ended, or it left).
    pub fn input(&mut self, n: usize) -> Option<Vec<u8>> {
        let c = self.clients.iter_mut().filter(|c| c.reading).nth(n)?;
        let mut buf = vec![0u8; 16384];
        match c.sock.read(&mut buf) {
            Ok(0) | Err(_) => {
                c.reading = false;
                None
            }
            Ok(k) => {
                buf.truncate(k);
                Some(buf)
            }
        }
    }

    /// The run ended: clients see EOF, the next run starts a new replay.
    pub fn end_run(&mut self) {
        self.clients.clear();
        self.replay.clear();
    }
}

fn write_frame(w: &mut impl Write, stream: Stream, data: &[u8]) -> io::Result<()> {
    let kind = match stream {
        Stream::Stdout => 1u8,
        Stream::Stderr => 2u8,
    };
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&(data.len() as u32).to_be_bytes());
    w.write_all(&head)?;
    w.write_all(data)
}

/// How a client attaches.
#[derive(Debug, Clone)]
pub struct Options {
    /// Forward this process's stdin to the container.
    pub stdin: bool,
    /// The byte sequence that detaches (see [`parse_keys`]).
    pub detach_keys: Vec<u8>,
    /// Also get the current run's output so far (`start -a`).
    pub from_start: bool,
    /// The container has a pty: this terminal goes raw while attached.
    pub tty: bool,
}

/// How an attach ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The detach keys were typed; the container runs on.
    Detached,
    /// The container's run ended (or the monitor went away).
    Closed,
}

/// Docker's `--detach-keys` syntax: comma-separated `ctrl-X` or single
/// characters; the default is `ctrl-p,ctrl-q`.
pub fn parse_keys(text: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::BadKeys(text.into());
    text.split(',')
        .map(|k| {
            if let Some(c) = k.strip_prefix("ctrl-") {
                let [b] = c.as_bytes() else { return Err(bad()) };
                match b.to_ascii_lowercase() {
                    b @ b'a'..=b'z' => Ok(b - b'a' + 1),
                    b'@' => Ok(0),
                    b'[' => Ok(27),
                    b'\\' => Ok(28),
                    b']' => Ok(29),
                    b'^' => Ok(30),
                    b'_' => Ok(31),
                    _ => Err(bad()),
                }
            } else {
                match k.as_bytes() {
                    [b] => Ok(*b),
                    _ => Err(bad()),
                }
            }
        })
        .collect()
}

/// Joins the container whose directory is `dir` until it ends or the
/// detach keys are typed.
pub fn attach(dir: &Path, opts: &Options) -> Result<End, Error> {
    let mut sock = UnixStream::connect(dir.join(SOCKET))?;
    sock.write_all(&[if opts.from_start { FROM_START } else { LIVE }])?;
    let stdin = io::stdin();
    let _raw = if opts.tty && opts.stdin {
        RawMode::enter(stdin.as_fd())
    } else {
        None
    };
    let detached = Arc::new(AtomicBool::new(false));
    if opts.stdin {
        let writer = sock.try_clone()?;
        let keys = opts.detach_keys.clone();
        let flag = detached.clone();
        std::thread::spawn(move || forward_stdin(writer, &keys, &flag));
    }
    copy_frames(&mut sock)?;
    Ok(if detached.load(Ordering::SeqCst) {
        End::Detached
    } else {
        End::Closed
    })
}

/// Frames to this process's stdout and stderr until the socket closes.
fn copy_frames(sock: &mut UnixStream) -> io::Result<()> {
    let (mut out, mut err) = (io::stdout(), io::stderr());
    loop {
        let mut head = [0u8; 5];
        match sock.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut data = vec![0u8; len];
        sock.read_exact(&mut data)?;
        if head[0] == 2 {
            err.write_all(&data)?;
            err.flush()?;
        } else {
            out.write_all(&data)?;
            out.flush()?;
        }
    }
}

/// Copies stdin to the socket, holding back a partial detach sequence;
/// the full sequence shuts the socket so [`copy_frames`] returns.
fn forward_stdin(mut sock: UnixStream, keys: &[u8], detached: &AtomicBool) {
    let mut stdin = io::stdin().lock();
    let mut scan = KeyScan::new(keys);
    let mut buf = [0u8; 4096];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (pass, hit) = scan.feed(&buf[..n]);
        if sock.write_all(&pass).is_err() {
            return;
        }
        if hit {
            detached.store(true, Ordering::SeqCst);
            let _ = sock.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
    let _ = sock.shutdown(std::net::Shutdown::Write);
}

/// Finds the detach sequence in a byte stream that may split it.
struct KeyScan<'a> {
    keys: &'a [u8],
    matched: usize,
}

impl<'a> KeyScan<'a> {
    fn new(keys: &'a [u8]) -> KeyScan<'a> {
        KeyScan { keys, matched: 0 }
    }

    /// The bytes to pass on, and whether the sequence completed (bytes
    /// after it are dropped, as Docker drops them).
    fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut pass = Vec::with_capacity(data.len());
        if self.keys.is_empty() {
            return (data.to_vec(), false);
        }
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (pass, true);
                }
                continue;
            }
            // A broken sequence is ordinary input after all.
            pass.extend_from_slice(&self.keys[..self.matched]);
            self.matched = usize::from(b == self.keys[0]);
            if self.matched == 0 {
                pass.push(b);
            }
        }
        (pass, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(parse_keys("ctrl-@,a").unwrap(), [0, b'a']);
        assert!(parse_keys("ctrl-pq").is_err());
        assert!(parse_keys("alt-x").is_err());
    }

    #[test]
    fn detach_sequence_is_found_across_reads() {
        let keys = [16u8, 17];
        let mut s = KeyScan::new(&keys);
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"\x11rest"), (Vec::new(), true));
        let mut s = KeyScan::new(&keys);
        assert_eq!(s.feed(b"\x10x\x10\x10"), (b"\x10x\x10".to_vec(), false));
        assert_eq!(s.feed(b"\x11"), (Vec::new(), true));
    }

    #[test]
    fn frames_reach_every_client_and_replay_from_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut relay = Relay::bind(dir.path()).unwrap();
        relay.output(Stream::Stdout, b"early\n");
        let mut late = UnixStream::connect(dir.path().join(SOCKET)).unwrap();
        late.write_all(&[FROM_START]).unwrap();
        let mut live = UnixStream::connect(dir.path().join(SOCKET)).unwrap();
        live.write_all(&[LIVE]).unwrap();
        relay.accept();
        assert_eq!(relay.input_fds().len(), 2);
        relay.output(Stream::Stderr, b"oops\n");
        relay.end_run();
        let mut got = Vec::new();
        late.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"\x01\0\0\0\x06early\n\x02\0\0\0\x05oops\n");
        got.clear();
        live.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"\x02\0\0\0\x05oops\n");
    }
}
