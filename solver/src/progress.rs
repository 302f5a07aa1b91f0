//! Progress events: what the solver tells its caller while a build runs.
//! The CLI renders them (tty, plain, rawjson); the solver never prints.
//! Vertex numbers follow BuildKit's `#N` numbering: one per step shown.

use std::sync::mpsc::Sender;
use std::time::Duration;

use serde::Serialize;

/// One thing that happened during a build.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step started running (`#5 [build 2/4] RUN make`).
    Started { vertex: usize, name: String },
    /// A step's result came from the cache; it does not run.
    Cached { vertex: usize, name: String },
    /// One line of a running step's output (stdout and stderr merged).
    Log { vertex: usize, line: String },
    /// A step finished.
    Done {
        vertex: usize,
        #[serde(with = "seconds")]
        elapsed: Duration,
    },
    /// A step failed; the build error follows.
    Failed { vertex: usize, message: String },
    /// A non-fatal finding (an unused `--build-arg`, a parser warning).
    Warning { message: String },
}

mod seconds {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
    }
}

/// Where events go. Cloned into every stage's worker.
#[derive(Debug, Clone)]
pub struct Progress {
    sink: Option<Sender<Event>>,
}

impl Progress {
    pub fn new(sink: Sender<Event>) -> Progress {
        Progress { sink: Some(sink) }
    }

    /// Events are dropped (tests, `-q` without a printer).
    pub fn silent() -> Progress {
        Progress { sink: None }
    }

    pub fn send(&self, event: Event) {
        if let Some(sink) = &self.sink {
            // A closed receiver means nobody renders any more; the build goes on.
            let _ = sink.send(event);
        }
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.send(Event::Warning {
            message: message.into(),
        });
    }
}
