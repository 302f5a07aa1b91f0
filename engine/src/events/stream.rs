//! Reading the journal: the rotated file, then the current one, a line at
//! a time; a line that is not an event (a torn write after a crash, a
//! hand edit) is skipped. Following, it waits at the end of the file for
//! more, moves to the new file when the journal is rotated, and
//! journals the exits of containers no process watched as they happen.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::journal::{fail, Journal};
use super::{Event, EventsOptions};
use crate::{Engine, Error};

/// How often a follower looks for new lines.
const POLL: Duration = Duration::from_millis(100);

/// How often a follower looks for exits no process journaled: that reads
/// every container's record, too much for each poll.
const EXITS_POLL: Duration = Duration::from_secs(1);

/// The events [`Engine::events`] selects, oldest first.
pub struct Events {
    engine: Engine,
    opts: EventsOptions,
    /// Files still to read, in order.
    queue: Vec<PathBuf>,
    reader: Option<Reader>,
    /// A line read without its newline yet (being written).
    partial: Vec<u8>,
    /// The journal was rotated: the current file is read to its end, then
    /// the new one opened.
    rotated: bool,
    exits_looked: Instant,
}

struct Reader {
    path: PathBuf,
    lines: BufReader<File>,
    inode: u64,
}

impl Events {
    pub(super) fn open(engine: Engine, opts: EventsOptions) -> Result<Events, Error> {
        let journal = Journal::new(engine.root());
        let mut events = Events {
            engine,
            opts,
            queue: vec![journal.path(), journal.old_path()],
            reader: None,
            partial: Vec::new(),
            rotated: false,
            exits_looked: Instant::now(),
        };
        events.advance()?;
        Ok(events)
    }

    /// Opens the next file of the queue (a missing one is skipped).
    fn advance(&mut self) -> Result<bool, Error> {
        while let Some(path) = self.queue.pop() {
            match File::open(&path) {
                Ok(f) => {
                    let inode = f.metadata().map_err(fail("reading", &path))?.ino();
                    self.reader = Some(Reader {
                        path,
                        lines: BufReader::new(f),
                        inode,
                    });
                    self.partial.clear();
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(fail("opening", &path)(e)),
            }
        }
        Ok(false)
    }

    /// The next complete line of the current file, if there is one now.
    fn line(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let Some(r) = self.reader.as_mut() else {
            return Ok(None);
        };
        let n = r
            .lines
            .read_until(b'\n', &mut self.partial)
            .map_err(fail("reading", &r.path))?;
        if n == 0 || !self.partial.ends_with(b"\n") {
            return Ok(None);
        }
        Ok(Some(std::mem::take(&mut self.partial)))
    }

    fn selected(&self, e: &Event) -> bool {
        let t = e.when();
        self.opts.since.is_none_or(|s| t >= s)
            && self.opts.until.is_none_or(|u| t <= u)
            && self.opts.filters.matches(e)
    }

    /// At the end of the current file: the next file, or (following) a
    /// pause, the journal's exits, and a look for a rotation. `false` when
    /// there is nothing more to wait for.
    fn at_end(&mut self) -> Result<bool, Error> {
        if self.advance()? {
            return Ok(true);
        }
        let path = Journal::new(self.engine.root()).path();
        if std::mem::take(&mut self.rotated) {
            self.queue.push(path);
            self.reader = None;
            return Ok(true);
        }
        if !self.opts.follow || self.opts.until.is_some_and(|u| SystemTime::now() > u) {
            return Ok(false);
        }
        std::thread::sleep(POLL);
        if self.exits_looked.elapsed() >= EXITS_POLL {
            self.engine.journal_exits();
            self.exits_looked = Instant::now();
        }
        let current = std::fs::metadata(&path).map(|m| m.ino()).ok();
        // What was appended to the old file before the rotation is read
        // first (see `rotated`).
        self.rotated = match &self.reader {
            Some(r) => current.is_some_and(|ino| ino != r.inode),
            None => current.is_some(),
        };
        Ok(true)
    }
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Result<Event, Error>> {
        loop {
            let line = match self.line() {
                Ok(Some(l)) => l,
                Ok(None) => match self.at_end() {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                },
                Err(e) => return Some(Err(e)),
            };
            // A line that is not an event is skipped, never fatal.
            if let Ok(e) = serde_json::from_slice::<Event>(&line) {
                if self.selected(&e) {
                    return Some(Ok(e));
                }
            }
        }
    }
}
