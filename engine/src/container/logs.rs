//! A container's log as a stream of entries (`logs`, and later the API's
//! `GET /containers/{id}/logs`): what was kept, then, when following, what
//! the container writes until it stops.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_runtime::container::logs::{self, Entry, LogConfig};
use kiln_runtime::container::state::Container;

use crate::{Engine, Error};

/// How often a followed log is read again.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Go on with new entries until the container stops.
    pub follow: bool,
    /// Only entries written at or after this time.
    pub since: Option<SystemTime>,
    /// Only the last N of the entries kept so far.
    pub tail: Option<usize>,
    /// Only entries written at or before this time; a followed log ends
    /// once it is past. Applied after `tail`, as Docker does.
    pub until: Option<SystemTime>,
}

/// The entries, in the order they were written (the rotated files
/// oldest first, then the live one); an iterator that blocks while a
/// followed container is quiet.
pub struct Logs {
    dir: PathBuf,
    path: PathBuf,
    /// The live file as last opened: read on after it is rotated away,
    /// until it has given all it holds.
    live: Option<File>,
    ready: VecDeque<Entry>,
    offset: u64,
    follow: bool,
    until: Option<SystemTime>,
}

impl Engine {
    pub fn logs(&self, key: &str, opts: &LogsOptions) -> Result<Logs, Error> {
        let c = self.container(key)?;
        if !LogConfig::of(&c.record.spec).keeps_log() {
            return Err(Error::LogsNotReadable);
        }
        Logs::open(&c, opts)
    }
}

impl Logs {
    fn open(c: &Container, opts: &LogsOptions) -> Result<Logs, Error> {
        let path = c.dir.join(logs::FILE);
        let mut entries = Vec::new();
        for old in logs::rotated_files(&path).map_err(Error::Logs)? {
            entries.extend(logs::read_from(&old, 0).map_err(Error::Logs)?.0);
        }
        let mut logs = Logs {
            dir: c.dir.clone(),
            path,
            live: None,
            ready: VecDeque::new(),
            offset: 0,
            follow: opts.follow,
            until: opts.until,
        };
        entries.extend(logs.read_live()?);
        logs.ready = logs::select(entries, opts.since, opts.tail).into();
        Ok(logs)
    }

    /// What the live file holds past the last read. Once it has been
    /// rotated away (the path names another file) and is read to its end,
    /// the new live file is read from its start.
    fn read_live(&mut self) -> Result<Vec<Entry>, Error> {
        let mut got = Vec::new();
        loop {
            let Some(file) = &self.live else {
                match File::open(&self.path) {
                    Ok(f) => {
                        self.live = Some(f);
                        self.offset = 0;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(got),
                    Err(e) => return Err(Error::Logs(e)),
                }
            };
            // Looked at before reading, so nothing written to the old
            // file before it moved is missed.
            let moved = !same_file(file, &self.path);
            let (more, next) = logs::read_open(file, self.offset).map_err(Error::Logs)?;
            self.offset = next;
            got.extend(more);
            if !moved {
                return Ok(got);
            }
            self.live = None;
        }
    }

    /// Reads what was written since the last read; the container's state
    /// is looked at first, so the last entries of a run that just ended
    /// are still read.
    fn poll(&mut self) -> Result<(), Error> {
        let live = Container::load(&self.dir).is_ok_and(|c| c.state.status.is_live());
        let more = self.read_live()?;
        self.ready.extend(more);
        let past = self.until.is_some_and(|u| SystemTime::now() > u);
        if !live || past {
            self.follow = false;
        } else if self.ready.is_empty() {
            std::thread::sleep(FOLLOW_POLL);
        }
        Ok(())
    }
}

/// Whether `path` names the open `file` (not one made since).
fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl Logs {
    /// Written after `until`; an entry whose time cannot be read is kept.
    fn is_past(&self, e: &Entry) -> bool {
        let Some(until) = self.until else {
            return false;
        };
        humantime::parse_rfc3339_weak(&e.time).is_ok_and(|t| t > until)
    }
}

impl Iterator for Logs {
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Result<Entry, Error>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                if self.is_past(&e) {
                    // Entries come in time order: none after this is wanted.
                    self.ready.clear();
                    self.follow = false;
                    return None;
                }
                return Some(Ok(e));
            }
            if !self.follow {
                return None;
            }
            if let Err(e) = self.poll() {
                self.follow = false;
                return Some(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kiln_runtime::container::logs::{Stream, Writer};

    use super::*;

    #[test]
    fn a_followed_log_of_a_container_that_is_gone_ends_after_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(&dir.path().join(logs::FILE)).unwrap();
        w.write(Stream::Stdout, b"one\ntwo\n").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        // no record in the directory: the container is not live
        let followed = Logs {
            dir: dir.path().to_path_buf(),
            path: dir.path().join(logs::FILE),
            live: None,
            ready: VecDeque::new(),
            offset: 0,
            follow: true,
            until: None,
        };
        let got: Vec<(String, Stream)> = followed
            .map(|e| e.map(|e| (e.log, e.stream)))
            .collect::<Result<_, _>>()
            .unwrap();
        let want = [
            ("one\n", Stream::Stdout),
            ("two\n", Stream::Stdout),
            ("oops\n", Stream::Stderr),
        ];
        assert_eq!(got, want.map(|(l, s)| (l.to_string(), s)));
    }

    #[test]
    fn entries_after_until_end_the_log() {
        let entry = |log: &str, time: &str| Entry {
            log: log.into(),
            stream: Stream::Stdout,
            time: time.into(),
        };
        let logs = Logs {
            dir: PathBuf::from("/nonexistent"),
            path: PathBuf::from("/nonexistent/log"),
            live: None,
            ready: VecDeque::from([
                entry("one\n", "2020-01-01T00:00:00.5Z"),
                entry("two\n", "2020-01-01T00:00:01Z"),
                entry("three\n", "2020-01-01T00:00:02Z"),
            ]),
            offset: 0,
            follow: true,
            until: humantime::parse_rfc3339("2020-01-01T00:00:01Z").ok(),
        };
        let got: Vec<String> = logs.map(|e| e.unwrap().log).collect();
        assert_eq!(got, ["one\n", "two\n"]);
    }

    #[test]
    fn a_followed_log_reads_on_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(logs::FILE);
        // one entry is about 70 bytes: the third rotates the file
        let rotation = logs::Rotation {
            max_size: Some(100),
            max_files: 2,
        };
        let mut w = Writer::rotating(&path, rotation).unwrap();
        w.write(Stream::Stdout, b"one\n").unwrap();
        let mut logs = Logs {
            dir: dir.path().to_path_buf(),
            path: path.clone(),
            live: None,
            ready: VecDeque::new(),
            offset: 0,
            follow: false,
            until: None,
        };
        let mut got: Vec<String> = logs
            .read_live()
            .unwrap()
            .into_iter()
            .map(|e| e.log)
            .collect();
        // "two" lands in the file that rotates away, "three" in a new one
        w.write(Stream::Stdout, b"two\nthree\n").unwrap();
        assert!(dir.path().join("container.log.1").exists());
        got.extend(logs.read_live().unwrap().into_iter().map(|e| e.log));
        assert_eq!(got, ["one\n", "two\n", "three\n"]);
    }
}
