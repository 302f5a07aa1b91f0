//! The container log: Docker's json-file format, one JSON object per line
//! (`{"log":"text\n","stream":"stdout","time":"…"}`), so stdout and stderr
//! stay apart and every line keeps its time for `logs -t` and `--since`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The log file's name in the container's directory.
pub const FILE: &str = "container.log";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: Stream,
    pub time: String,
}

/// Appends complete lines to the log; a partial line waits for its end
/// (or for [`Writer::flush_partial`] when the stream closes).
pub struct Writer {
    file: File,
    pending: [Vec<u8>; 2],
}

impl Writer {
    pub fn open(path: &Path) -> io::Result<Writer> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Writer {
            file,
            pending: [Vec::new(), Vec::new()],
        })
    }

    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let i = stream as usize;
        self.pending[i].extend_from_slice(bytes);
        while let Some(end) = self.pending[i].iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending[i].drain(..=end).collect();
            self.entry(stream, &line)?;
        }
        Ok(())
    }

    pub fn flush_partial(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            if !rest.is_empty() {
                self.entry(stream, &rest)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        let e = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream,
            time: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        };
        let mut bytes = serde_json::to_vec(&e).map_err(io::Error::other)?;
        bytes.push(b'\n');
        self.file.write_all(&bytes)
    }
}

/// Reads log entries from a byte offset; returns them and the offset after
/// the last complete line.
pub fn read_from(path: &Path, offset: u64) -> io::Result<(Vec<Entry>, u64)> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut pos = offset;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        pos += n as u64;
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            entries.push(e);
        }
    }
    Ok((entries, pos))
}

/// The entries at or after `since` (RFC 3339), keeping the last `tail`.
pub fn select(entries: Vec<Entry>, since: Option<SystemTime>, tail: Option<usize>) -> Vec<Entry> {
    let mut kept: Vec<Entry> = match since {
        None => entries,
        Some(t) => entries
            .into_iter()
            .filter(|e| humantime::parse_rfc3339(&e.time).is_ok_and(|et| et >= t))
            .collect(),
    };
    if let Some(n) = tail {
        let skip = kept.len().saturating_sub(n);
        kept.drain(..skip);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_stream_and_partial_lines_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut w = Writer::open(&path).unwrap();
        w.write(Stream::Stdout, b"one\ntw").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        let (entries, end) = read_from(&path, 0).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].log.as_str(), entries[0].stream),
            ("one\n", Stream::Stdout)
        );
        assert_eq!(entries[1].stream, Stream::Stderr);
        w.write(Stream::Stdout, b"o\n").unwrap();
        w.write(Stream::Stdout, b"end").unwrap();
        w.flush_partial().unwrap();
        let (more, _) = read_from(&path, end).unwrap();
        let text: Vec<&str> = more.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(text, ["two\n", "end"]);
    }

    #[test]
    fn tail_and_since_select() {
        let e = |t: &str| Entry {
            log: t.into(),
            stream: Stream::Stdout,
            time: t.into(),
        };
        let all = vec![e("2024-01-01T00:00:00Z"), e("2024-01-02T00:00:00Z")];
        assert_eq!(select(all.clone(), None, Some(1)).len(), 1);
        let since = humantime::parse_rfc3339("2024-01-01T12:00:00Z").unwrap();
        let got = select(all, Some(since), None);
        assert_eq!(got[0].log, "2024-01-02T00:00:00Z");
    }
}
