//! Build records: what each build did, kept under `builds/history/` for
//! `kiln build history` (BuildKit's `buildx history`). A record is made
//! from the progress events alone, timed as they arrive ([`Recorder`]),
//! then given what the Dockerfile says of each step (its line, what it
//! reads) and what `cache why` says of each miss. Records are derived
//! data: losing one costs only its history.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use kiln_cache::Store;

use crate::build::{BuildOptions, BuildResult};
use crate::progress::Event;
use crate::session::BuildSession;
use crate::BuildError;

pub mod dag;
pub mod otlp;
pub mod store;

pub use store::{RecordError, RecordStore};

/// One build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// 20 lower-case hex digits, unique per build.
    pub id: String,
    /// Unix nanoseconds.
    pub started: u64,
    pub finished: u64,
    /// The Dockerfile's name in messages (`Dockerfile`).
    pub file: String,
    /// `sha256:…` of the Dockerfile as read; `None` when it could not be.
    pub dockerfile_digest: Option<String>,
    pub options: RecordOptions,
    /// In the order they started (or were found cached).
    pub steps: Vec<StepRecord>,
    /// What the build process and its steps read and wrote to storage.
    pub io: Option<IoBytes>,
    pub outcome: Outcome,
}

/// The options a build was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOptions {
    pub context: String,
    pub target: Option<String>,
    pub tags: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub platform: Option<String>,
    pub jobs: usize,
}

impl RecordOptions {
    pub fn of(opts: &BuildOptions) -> RecordOptions {
        RecordOptions {
            context: opts.context.display().to_string(),
            target: opts.target.clone(),
            tags: opts.tags.clone(),
            build_args: opts
                .build_args
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            no_cache: opts.no_cache,
            no_cache_filter: opts.no_cache_filter.clone(),
            platform: opts.platform.as_ref().map(|p| p.to_string()),
            jobs: opts.jobs,
        }
    }
}

/// One vertex of the build: a Dockerfile step, a pull, an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// BuildKit's `#N`.
    pub vertex: usize,
    /// `[build 2/4] RUN make`, as progress shows it.
    pub name: String,
    /// The stage's label; `None` for a vertex outside the stages.
    pub stage: Option<String>,
    /// The Dockerfile line of its instruction.
    pub line: Option<usize>,
    /// Unix nanoseconds.
    pub start: u64,
    pub end: u64,
    pub cached: bool,
    /// Its failure message, if it failed.
    pub error: Option<String>,
    /// Why it missed the cache, as `cache why` tells it.
    pub miss: Vec<String>,
    /// The vertices it reads: the step before it, the stage it is built
    /// FROM, the stages it copies or mounts from.
    pub depends: Vec<usize>,
}

impl StepRecord {
    pub fn duration_ns(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// The instruction as shown: `RUN make` of `[build 2/4] RUN make`.
    pub fn text(&self) -> &str {
        match self.stage {
            Some(_) => self.name.split_once("] ").map_or(&self.name, |(_, t)| t),
            None => &self.name,
        }
    }
}

/// Bytes of storage IO (`/proc/self/io`'s `read_bytes`/`write_bytes`,
/// which count the steps' processes too once they are reaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoBytes {
    pub read: u64,
    pub written: u64,
}

impl IoBytes {
    /// This process's counters now; `None` where the kernel keeps none.
    pub fn now() -> Option<IoBytes> {
        let text = std::fs::read_to_string("/proc/self/io").ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        };
        Some(IoBytes {
            read: field("read_bytes:")?,
            written: field("write_bytes:")?,
        })
    }

    fn since(self, before: IoBytes) -> IoBytes {
        IoBytes {
            read: self.read.saturating_sub(before.read),
            written: self.written.saturating_sub(before.written),
        }
    }
}

/// How the build ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The image it made.
    pub image: Option<String>,
    /// Its error, as the build reported it.
    pub error: Option<String>,
}

pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Times the progress events of one build as they arrive.
#[derive(Debug)]
pub struct Recorder {
    started: u64,
    io: Option<IoBytes>,
    steps: Vec<StepRecord>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// Starts the clock and the IO counters.
    pub fn new() -> Recorder {
        Recorder {
            started: unix_nanos(SystemTime::now()),
            io: IoBytes::now(),
            steps: Vec::new(),
        }
    }

    /// Notes `event`, received at `at` (Unix nanoseconds).
    pub fn observe(&mut self, event: &Event, at: u64) {
        match event {
            Event::Started { vertex, name } => self.open(*vertex, name, at, false),
            Event::Cached { vertex, name } => self.open(*vertex, name, at, true),
            Event::Done { vertex, elapsed } => {
                if let Some(s) = self.step(*vertex) {
                    let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
                    s.end = s.start.saturating_add(ns).max(s.start);
                }
            }
            Event::Failed { vertex, message } => {
                if let Some(s) = self.step(*vertex) {
                    s.end = at;
                    s.error = Some(message.clone());
                }
            }
            Event::Log { .. } | Event::Warning { .. } => {}
        }
    }

    fn open(&mut self, vertex: usize, name: &str, at: u64, cached: bool) {
        let stage = crate::why::history::split_name(name).map(|(s, _, _)| s);
        self.steps.push(StepRecord {
            vertex,
            name: name.to_string(),
            stage,
            line: None,
            start: at,
            end: at,
            cached,
            error: None,
            miss: Vec::new(),
            depends: Vec::new(),
        });
    }

    fn step(&mut self, vertex: usize) -> Option<&mut StepRecord> {
        self.steps.iter_mut().rev().find(|s| s.vertex == vertex)
    }

    /// Passes every event of `events` on, noting each: the caller renders
    /// from the returned receiver, and joins the handle for the recorder
    /// once the build has dropped its sender.
    pub fn tee(mut self, events: Receiver<Event>) -> (Receiver<Event>, JoinHandle<Recorder>) {
        let (tx, rx) = channel();
        let handle = std::thread::spawn(move || {
            for event in events {
                self.observe(&event, unix_nanos(SystemTime::now()));
                // Nobody rendering any more does not stop the record.
                let _ = tx.send(event);
            }
            self
        });
        (rx, handle)
    }

    /// The record of the build, with what `session` says of its steps
    /// (`None`: the Dockerfile could not be read) and the causes of its
    /// misses (`why`: step name → cause texts).
    pub fn finish(
        self,
        opts: &BuildOptions,
        session: Option<&BuildSession>,
        outcome: Outcome,
        why: &dyn Fn(&str) -> Vec<String>,
    ) -> BuildRecord {
        let finished = unix_nanos(SystemTime::now());
        let mut steps = self.steps;
        for s in &mut steps {
            s.miss = if s.cached { Vec::new() } else { why(&s.name) };
        }
        if let Some(session) = session {
            dag::link(session.dockerfile(), &mut steps);
        }
        let io = IoBytes::now()
            .zip(self.io)
            .map(|(now, then)| now.since(then));
        BuildRecord {
            id: new_id(self.started),
            started: self.started,
            finished,
            file: session.map_or_else(String::new, |s| s.file().to_string()),
            dockerfile_digest: session.map(|s| digest(s.source())),
            options: RecordOptions::of(opts),
            steps,
            io,
            outcome,
        }
    }
}

/// The record of `built`: its outcome, and for a build that ran steps,
/// what `cache why` says of each miss.
pub fn finish_build(
    recorder: Recorder,
    store: &Store,
    opts: &BuildOptions,
    session: Option<&BuildSession>,
    built: &Result<BuildResult, BuildError>,
) -> BuildRecord {
    let outcome = match built {
        Ok(r) => Outcome {
            image: Some(r.image.id().to_string()),
            error: None,
        },
        Err(e) => Outcome {
            image: None,
            error: Some(error_text(e)),
        },
    };
    let ran = recorder
        .steps
        .iter()
        .any(|s| !s.cached && s.stage.is_some());
    let why = match (&outcome.image, ran) {
        (Some(image), true) => crate::why::explain(store, Some(image)).ok(),
        _ => None,
    };
    let causes: HashMap<String, Vec<String>> = why
        .map(|w| {
            w.steps
                .into_iter()
                .map(|s| (s.name, s.causes.into_iter().map(|c| c.text).collect()))
                .collect()
        })
        .unwrap_or_default();
    recorder.finish(opts, session, outcome, &|name| {
        causes.get(name).cloned().unwrap_or_default()
    })
}

/// The error and its causes in one line, as the record keeps it.
fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Two builds starting in the same nanosecond in two processes still
/// differ by pid.
fn new_id(started: u64) -> String {
    let seed = format!("{started}\0{}", std::process::id());
    blake3::hash(seed.as_bytes()).to_hex()[..20].to_string()
}

#[cfg(test)]
mod tests;
