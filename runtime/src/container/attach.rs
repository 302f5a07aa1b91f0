//! `kiln attach` and `start -a -i`: a detached container's monitor keeps
//! its stdio (the pty master under `-t`, the stdin pipe under `-i`) and
//! relays it over `attach.sock` in the container's directory, so any kiln
//! process can join it later. Output goes out in frames (stream, length,
//! bytes) to every client; a client sends frames the same way: stdin
//! bytes, or its terminal's size under `-t`, which the monitor sets on the
//! pty (as `run -t` and `exec -t` do, so SIGWINCH reaches the container).
//! The client watches its own stdin for the detach keys (Docker's default
//! Ctrl-P Ctrl-Q) and leaves the container running when it sees them.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::logs::Stream;
use super::terminal::{self, RawMode};

/// The socket's name in the container directory.
pub const SOCKET: &str = "attach.sock";

/// The first byte a client sends: live output only (`attach`), or the
/// output of the current run from its start (`start -a`, which connects
/// just after the start and must not miss the first lines).
const LIVE: u8 = 0;
const FROM_START: u8 = 1;

/// The kinds of frame a client sends after its mode byte.
const STDIN: u8 = 0;
const RESIZE: u8 = 1;

/// A client frame longer than this is a broken client, dropped.
const MAX_INPUT_FRAME: usize = 1 << 16;

/// `start -a` leaves this file in the container's directory before the
/// monitor starts: a run that ends before that client connected keeps its
/// output for it a moment (Docker attaches before it starts; here the
/// client can only connect once the monitor is up).
const PENDING: &str = "attach.pending";

/// How long an ended run waits for the `start -a` client it expects.
const PENDING_WAIT: Duration = Duration::from_secs(5);

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
    dir: PathBuf,
    listener: UnixListener,
    clients: Vec<Client>,
    /// The current run's output so far, as frames (both streams).
    replay: Vec<u8>,
}

struct Client {
    sock: UnixStream,
    /// Still sending stdin (not yet shut down its write side).
    reading: bool,
    /// Bytes of a frame not yet complete.
    pending: Vec<u8>,
}

/// One thing a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes for the container's stdin.
    Stdin(Vec<u8>),
    /// The client's terminal size, for the container's pty.
    Resize { rows: u16, cols: u16 },
}

impl Relay {
    /// Binds `dir/attach.sock`, replacing a stale one.
    pub fn bind(dir: &Path) -> io::Result<Relay> {
        let path = dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let (_held, short) = socket_path(dir)?;
        let listener = UnixListener::bind(&short)?;
        listener.set_nonblocking(true)?;
        Ok(Relay {
            dir: dir.to_path_buf(),
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
            let _ = std::fs::remove_file(self.dir.join(PENDING));
            sock.write_all(&self.replay).ok()?;
        }
        Some(Client {
            sock,
            reading: true,
            pending: Vec::new(),
        })
    }

    /// Sends output to every client, dropping those that fail.
    pub fn output(&mut self, stream: Stream, data: &[u8]) {
        let frame = frame(stream, data);
        if self.replay.len() + frame.len() <= REPLAY_CAP {
            self.replay.extend_from_slice(&frame);
        }
        self.clients
            .retain_mut(|c| c.sock.write_all(&frame).is_ok());
    }

    /// Reads what the `n`th reading client sent: the frames completed so
    /// far. Once it is done sending (its stdin ended, or it left) it is
    /// read no more.
    pub fn input(&mut self, n: usize) -> Vec<Input> {
        let Some(c) = self.clients.iter_mut().filter(|c| c.reading).nth(n) else {
            return Vec::new();
        };
        let mut buf = vec![0u8; 16384];
        match c.sock.read(&mut buf) {
            Ok(0) | Err(_) => c.reading = false,
            Ok(k) => c.pending.extend_from_slice(&buf[..k]),
        }
        let (inputs, broken) = parse_inputs(&mut c.pending);
        if broken {
            c.reading = false;
        }
        inputs
    }

    /// The run ended: clients see EOF, the next run starts a new replay.
    /// A `start -a` client still expected gets a moment to connect first.
    pub fn end_run(&mut self) {
        self.await_pending(PENDING_WAIT);
        self.clients.clear();
        self.replay.clear();
    }

    fn await_pending(&mut self, wait: Duration) {
        let marker = self.dir.join(PENDING);
        let deadline = std::time::Instant::now() + wait;
        while marker.exists() && std::time::Instant::now() < deadline {
            self.accept();
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = std::fs::remove_file(marker);
    }
}

/// Called by `start -a` before it starts the container's monitor (see
/// [`PENDING`]); [`forget_client`] if the start fails.
pub fn expect_client(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join(PENDING), b"")
}

pub fn forget_client(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(PENDING));
}

/// Takes the complete frames off the front of `pending`; `true` with
/// them if the client sent something no kiln client sends.
fn parse_inputs(pending: &mut Vec<u8>) -> (Vec<Input>, bool) {
    let mut inputs = Vec::new();
    let mut at = 0;
    let mut broken = false;
    while pending.len() - at >= 5 {
        let head = &pending[at..at + 5];
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_INPUT_FRAME {
            broken = true;
            break;
        }
        if pending.len() - at - 5 < len {
            break;
        }
        let body = &pending[at + 5..at + 5 + len];
        match (head[0], body) {
            (STDIN, _) => inputs.push(Input::Stdin(body.to_vec())),
            (RESIZE, [r0, r1, c0, c1]) => inputs.push(Input::Resize {
                rows: u16::from_be_bytes([*r0, *r1]),
                cols: u16::from_be_bytes([*c0, *c1]),
            }),
            _ => {
                broken = true;
                break;
            }
        }
        at += 5 + len;
    }
    pending.drain(..at);
    (inputs, broken)
}

/// One output frame: stream (1 stdout, 2 stderr), length, bytes.
fn frame(stream: Stream, data: &[u8]) -> Vec<u8> {
    let kind = match stream {
        Stream::Stdout => 1u8,
        Stream::Stderr => 2u8,
    };
    raw_frame(kind, data)
}

fn raw_frame(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(5 + data.len());
    frame.push(kind);
    frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
    frame.extend_from_slice(data);
    frame
}

/// One frame in one write, so frames from two client threads never mix.
fn write_raw_frame(w: &mut impl Write, kind: u8, data: &[u8]) -> io::Result<()> {
    w.write_all(&raw_frame(kind, data))
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

/// Joins the container whose directory is `dir` from this process's
/// terminal until it ends or the detach keys are typed: stdin (raw under
/// `-t`, with the window size following this terminal's), stdout, stderr.
pub fn attach(dir: &Path, opts: &Options) -> Result<End, Error> {
    let client = Connection::connect(dir, opts.from_start)?;
    let stdin = io::stdin();
    let _raw = if opts.tty && opts.stdin {
        RawMode::enter(stdin.as_fd())
    } else {
        None
    };
    if opts.tty {
        // Before the stdin thread starts, so it inherits the blocked mask.
        watch_size(&client.writer);
    }
    let input = opts
        .stdin
        .then(|| Box::new(io::stdin()) as Box<dyn Read + Send>);
    client.relay(
        input,
        &opts.detach_keys,
        &mut io::stdout(),
        &mut io::stderr(),
    )
}

/// Joins the container from any streams (an API connection): `input` is
/// forwarded as its stdin (watched for the detach keys), its output goes
/// to `out` and `err` until it ends or the keys are seen.
pub fn attach_streams(
    dir: &Path,
    opts: &Options,
    input: Option<Box<dyn Read + Send>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<End, Error> {
    let client = Connection::connect(dir, opts.from_start)?;
    client.relay(input, &opts.detach_keys, out, err)
}

/// Sets the size of a `-t` container's terminal through its monitor
/// (the API's resize), as an attached client's resize frame does.
pub fn resize(dir: &Path, rows: u16, cols: u16) -> Result<(), Error> {
    let (_held, short) = socket_path(dir)?;
    let mut sock = UnixStream::connect(short)?;
    let mut size = rows.to_be_bytes().to_vec();
    size.extend_from_slice(&cols.to_be_bytes());
    let mut message = vec![LIVE];
    message.extend(raw_frame(RESIZE, &size));
    sock.write_all(&message)?;
    Ok(())
}

/// The socket's path as bind and connect can take it: a socket address
/// holds 107 bytes of path, and a store under a long `--root` passes that;
/// the container's directory is then reached through a descriptor of it,
/// held open while the returned path is used.
fn socket_path(dir: &Path) -> io::Result<(Option<std::fs::File>, PathBuf)> {
    let path = dir.join(SOCKET);
    if path.as_os_str().len() < 100 {
        return Ok((None, path));
    }
    let held = std::fs::File::open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", held.as_raw_fd()));
    Ok((Some(held), short))
}

/// A connection to the monitor's attach socket.
struct Connection {
    sock: UnixStream,
    writer: Writer,
}

impl Connection {
    fn connect(dir: &Path, from_start: bool) -> Result<Connection, Error> {
        let (_held, short) = socket_path(dir)?;
        let mut sock = UnixStream::connect(short)?;
        sock.write_all(&[if from_start { FROM_START } else { LIVE }])?;
        let writer = Arc::new(Mutex::new(sock.try_clone()?));
        Ok(Connection { sock, writer })
    }

    /// Forwards `input` on a thread of its own and copies the output
    /// until the socket closes.
    fn relay(
        mut self,
        input: Option<Box<dyn Read + Send>>,
        keys: &[u8],
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<End, Error> {
        let detached = Arc::new(AtomicBool::new(false));
        if let Some(input) = input {
            let writer = self.writer.clone();
            let keys = keys.to_vec();
            let flag = detached.clone();
            std::thread::spawn(move || forward_input(input, writer, &keys, &flag));
        }
        copy_frames(&mut self.sock, out, err)?;
        Ok(if detached.load(Ordering::SeqCst) {
            End::Detached
        } else {
            End::Closed
        })
    }
}

/// Frames to `out` and `err` until the socket closes.
fn copy_frames(sock: &mut UnixStream, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
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
        let to: &mut dyn Write = if head[0] == 2 { &mut *err } else { &mut *out };
        to.write_all(&data)?;
        to.flush()?;
    }
}

/// The client's sending half, shared by the stdin and window-size threads.
type Writer = Arc<Mutex<UnixStream>>;

fn send(writer: &Writer, kind: u8, data: &[u8]) -> io::Result<()> {
    let mut sock = writer
        .lock()
        .map_err(|_| io::Error::other("attach writer poisoned"))?;
    write_raw_frame(&mut *sock, kind, data)
}

/// This terminal's size now: stdin's, or stdout's when stdin is not one.
fn send_size(writer: &Writer) -> io::Result<()> {
    let Some((rows, cols)) = terminal::caller_size() else {
        return Ok(());
    };
    let mut body = rows.to_be_bytes().to_vec();
    body.extend_from_slice(&cols.to_be_bytes());
    send(writer, RESIZE, &body)
}

/// Sends the size now and after every SIGWINCH, as `docker attach` does
/// under `-t`. SIGWINCH is blocked in this thread (and the threads it
/// starts later) and read from a signalfd by a thread of its own.
fn watch_size(writer: &Writer) {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGWINCH);
    if pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).is_err() {
        return;
    }
    let _ = send_size(writer);
    let Ok(sfd) = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC) else {
        return;
    };
    let writer = writer.clone();
    std::thread::spawn(move || {
        while let Ok(Some(_)) = sfd.read_signal() {
            if send_size(&writer).is_err() {
                return;
            }
        }
    });
}

/// Copies the input to the socket, holding back a partial detach
/// sequence; the full sequence shuts the socket so [`copy_frames`] returns.
fn forward_input(
    mut input: Box<dyn Read + Send>,
    writer: Writer,
    keys: &[u8],
    detached: &AtomicBool,
) {
    let mut scan = KeyScan::new(keys);
    let mut buf = [0u8; 4096];
    let shutdown = |how| {
        if let Ok(sock) = writer.lock() {
            let _ = sock.shutdown(how);
        }
    };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (pass, hit) = scan.feed(&buf[..n]);
        if !pass.is_empty() && send(&writer, STDIN, &pass).is_err() {
            return;
        }
        if hit {
            detached.store(true, Ordering::SeqCst);
            shutdown(std::net::Shutdown::Both);
            return;
        }
    }
    shutdown(std::net::Shutdown::Write);
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

    /// A monitor's side of one client: sends `frames`, then returns the
    /// mode byte and everything the client sent until it shut its side.
    fn fake_monitor(dir: &Path, frames: Vec<Vec<u8>>) -> std::thread::JoinHandle<(u8, Vec<u8>)> {
        let listener = UnixListener::bind(dir.join(SOCKET)).unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut mode = [0u8];
            s.read_exact(&mut mode).unwrap();
            for f in frames {
                s.write_all(&f).unwrap();
            }
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            (mode[0], got)
        })
    }

    fn options(stdin: bool) -> Options {
        Options {
            stdin,
            detach_keys: vec![16, 17],
            from_start: true,
            tty: false,
        }
    }

    #[test]
    fn streams_get_the_output_and_give_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let frames = vec![raw_frame(1, b"out\n"), raw_frame(2, b"err\n")];
        let monitor = fake_monitor(dir.path(), frames);
        let input: Box<dyn Read + Send> = Box::new(io::Cursor::new(b"ls\n".to_vec()));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let end = attach_streams(dir.path(), &options(true), Some(input), &mut out, &mut err);
        assert_eq!(end.unwrap(), End::Closed);
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"out\n"[..], &b"err\n"[..])
        );
        let (mode, sent) = monitor.join().unwrap();
        assert_eq!(mode, FROM_START);
        assert_eq!(sent, raw_frame(STDIN, b"ls\n"));
    }

    #[test]
    fn streams_detach_at_the_keys_and_hold_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let monitor = fake_monitor(dir.path(), Vec::new());
        let typed = b"ls\n\x10\x11never sent".to_vec();
        let input: Box<dyn Read + Send> = Box::new(io::Cursor::new(typed));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let end = attach_streams(dir.path(), &options(true), Some(input), &mut out, &mut err);
        assert_eq!(end.unwrap(), End::Detached);
        let (_, sent) = monitor.join().unwrap();
        assert_eq!(sent, raw_frame(STDIN, b"ls\n"));
    }

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
    fn client_frames_are_read_across_partial_reads() {
        let mut wire = Vec::new();
        write_raw_frame(&mut wire, STDIN, b"ls\n").unwrap();
        write_raw_frame(&mut wire, RESIZE, &[0, 40, 0, 120]).unwrap();
        let mut pending = wire[..10].to_vec();
        let (first, broken) = parse_inputs(&mut pending);
        assert_eq!(first, [Input::Stdin(b"ls\n".to_vec())]);
        assert!(!broken);
        pending.extend_from_slice(&wire[10..]);
        let (second, _) = parse_inputs(&mut pending);
        assert_eq!(
            second,
            [Input::Resize {
                rows: 40,
                cols: 120
            }]
        );
        assert!(pending.is_empty());
        let mut junk = vec![9, 0, 0, 0, 1, 0];
        assert!(
            parse_inputs(&mut junk).1,
            "an unknown kind drops the client"
        );
    }

    #[test]
    fn a_run_that_ends_first_waits_for_the_expected_start_a_client() {
        let dir = tempfile::tempdir().unwrap();
        let mut relay = Relay::bind(dir.path()).unwrap();
        expect_client(dir.path()).unwrap();
        relay.output(Stream::Stderr, b"quick\n");
        let path = dir.path().join(SOCKET);
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let mut s = UnixStream::connect(path).unwrap();
            s.write_all(&[FROM_START]).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        relay.end_run();
        assert_eq!(late.join().unwrap(), b"\x02\0\0\0\x06quick\n");
        assert!(!dir.path().join(PENDING).exists());
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
