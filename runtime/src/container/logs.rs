//! The container log: Docker's json-file format, one JSON object per line
//! (`{"log":"text\n","stream":"stdout","time":"…"}`), so stdout and stderr
//! stay apart and every line keeps its time for `logs -t` and `--since`.
//! With `--log-opt max-size` the file rotates into `container.log.1` …
//! `container.log.(max-file - 1)` beside it, the oldest dropped; with the
//! `none` driver nothing is written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

/// The log file's name in the container's directory.
pub const FILE: &str = "container.log";

/// Where a container's spec notes its log configuration (Docker's
/// `HostConfig.LogConfig`, as JSON), for the monitor, `logs` and `inspect`.
pub const ANNOTATION: &str = "org.kiln.log-config";

/// Docker's `local` driver defaults, kept as json-file here.
const LOCAL_MAX_SIZE: u64 = 20 << 20;
const LOCAL_MAX_FILE: u32 = 5;

/// Docker's `HostConfig.LogConfig`: the driver and its options as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub driver: String,
    #[serde(rename = "Config", default)]
    pub options: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            driver: "json-file".into(),
            options: BTreeMap::new(),
        }
    }
}

impl LogConfig {
    /// The configuration noted in `spec`; Docker's default without one.
    pub fn of(spec: &Spec) -> LogConfig {
        spec.annotations()
            .as_ref()
            .and_then(|a| a.get(ANNOTATION))
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }

    /// Notes the configuration in `spec` (see [`LogConfig::of`]).
    pub fn note(&self, spec: &mut Spec) {
        let mut notes = spec.annotations().clone().unwrap_or_default();
        if let Ok(text) = serde_json::to_string(self) {
            notes.insert(ANNOTATION.to_string(), text);
        }
        spec.set_annotations(Some(notes));
    }

    /// Whether anything is written (and so can be read back).
    pub fn keeps_log(&self) -> bool {
        self.driver != "none"
    }

    /// When and how far the file rotates; sizes the engine checked when
    /// the container was made, so one unreadable here means no limit.
    pub fn rotation(&self) -> Rotation {
        let local = self.driver == "local";
        let max_size = match self.options.get("max-size") {
            Some(s) => crate::spec::parse_bytes(s)
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| *n > 0),
            None if local => Some(LOCAL_MAX_SIZE),
            None => None,
        };
        let max_files = match self.options.get("max-file") {
            Some(n) => n.parse().ok().filter(|n| *n >= 1).unwrap_or(1),
            None if local => LOCAL_MAX_FILE,
            None => 1,
        };
        Rotation {
            max_size,
            max_files,
        }
    }

    /// The writer for the container in `dir`, or `None` for the `none`
    /// driver.
    pub fn open(&self, dir: &Path) -> io::Result<Option<Writer>> {
        if !self.keeps_log() {
            return Ok(None);
        }
        Writer::rotating(&dir.join(FILE), self.rotation()).map(Some)
    }
}

/// `max-size` (none: the file only grows) and `max-file` (how many files
/// in all, the live one included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: Option<u64>,
    pub max_files: u32,
}

impl Default for Rotation {
    fn default() -> Rotation {
        Rotation {
            max_size: None,
            max_files: 1,
        }
    }
}

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
    path: PathBuf,
    /// The live file's size, for rotation.
    size: u64,
    rotation: Rotation,
    pending: [Vec<u8>; 2],
}

impl Writer {
    /// A log that only grows.
    pub fn open(path: &Path) -> io::Result<Writer> {
        Writer::rotating(path, Rotation::default())
    }

    /// A log at `path` that rotates by `rotation`.
    pub fn rotating(path: &Path, rotation: Rotation) -> io::Result<Writer> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            file,
            path: path.to_path_buf(),
            size,
            rotation,
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
        // As Docker's json-file: a file that reached max-size rotates
        // before the next entry, so no entry is split across files.
        if self.rotation.max_size.is_some_and(|max| self.size >= max) {
            self.rotate()?;
        }
        self.file.write_all(&bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Shifts `FILE.1` … up by one (the last falls off), moves the live
    /// file to `FILE.1` and starts a new one; with one file in all, the
    /// live one is emptied instead. Renames stay within the directory.
    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.max_files;
        if keep <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..keep - 1).rev() {
            match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Opens for appending, creating it; a symlink put in its place is refused.
fn open_append(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// `FILE.n` beside the live file.
fn rotated(path: &Path, n: u32) -> PathBuf {
    let name = path.file_name().map(|f| f.to_string_lossy().into_owned());
    path.with_file_name(format!("{}.{n}", name.unwrap_or_else(|| FILE.into())))
}

/// The rotated files of the log at `path`, oldest first (the live file
/// is not among them).
pub fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut numbered: Vec<(u32, PathBuf)> = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let n = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(n) = n {
            numbered.push((n, entry.path()));
        }
    }
    numbered.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    Ok(numbered.into_iter().map(|(_, p)| p).collect())
}

/// Reads log entries from a byte offset; returns them and the offset after
/// the last complete line.
pub fn read_from(path: &Path, offset: u64) -> io::Result<(Vec<Entry>, u64)> {
    match File::open(path) {
        Ok(f) => read_open(&f, offset),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((Vec::new(), offset)),
        Err(e) => Err(e),
    }
}

/// [`read_from`] on a file already open (one that may since have been
/// rotated away).
pub fn read_open(mut file: &File, offset: u64) -> io::Result<(Vec<Entry>, u64)> {
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

    fn lines_of(path: &Path) -> Vec<String> {
        read_from(path, 0)
            .unwrap()
            .0
            .into_iter()
            .map(|e| e.log)
            .collect()
    }

    #[test]
    fn rotation_keeps_max_file_files_oldest_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let rotation = Rotation {
            max_size: Some(1),
            max_files: 3,
        };
        let mut w = Writer::rotating(&path, rotation).unwrap();
        w.write(Stream::Stdout, b"1\n2\n3\n4\n").unwrap();
        let files = rotated_files(&path).unwrap();
        assert_eq!(
            files,
            [
                dir.path().join("container.log.2"),
                dir.path().join("container.log.1")
            ]
        );
        let read: Vec<Vec<String>> = files.iter().map(|f| lines_of(f)).collect();
        assert_eq!(read, [vec!["2\n".to_string()], vec!["3\n".to_string()]]);
        assert_eq!(lines_of(&path), ["4\n"]);
        assert!(!dir.path().join("container.log.3").exists());
    }

    #[test]
    fn one_file_in_all_is_emptied_instead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let rotation = Rotation {
            max_size: Some(1),
            max_files: 1,
        };
        let mut w = Writer::rotating(&path, rotation).unwrap();
        w.write(Stream::Stderr, b"a\nb\n").unwrap();
        assert_eq!(lines_of(&path), ["b\n"]);
        assert!(rotated_files(&path).unwrap().is_empty());
    }

    #[test]
    fn the_config_reads_back_from_the_spec_with_dockers_defaults() {
        let mut spec = Spec::default();
        assert_eq!(LogConfig::of(&spec), LogConfig::default());
        assert_eq!(LogConfig::default().rotation(), Rotation::default());
        let config = LogConfig {
            driver: "json-file".into(),
            options: [("max-size", "10k"), ("max-file", "3")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
        };
        config.note(&mut spec);
        assert_eq!(LogConfig::of(&spec), config);
        let want = Rotation {
            max_size: Some(10 << 10),
            max_files: 3,
        };
        assert_eq!(config.rotation(), want);
        let local = LogConfig {
            driver: "local".into(),
            ..LogConfig::default()
        };
        assert_eq!(local.rotation().max_files, 5);
        let none = LogConfig {
            driver: "none".into(),
            ..LogConfig::default()
        };
        assert!(none.open(Path::new("/nonexistent")).unwrap().is_none());
    }
}
