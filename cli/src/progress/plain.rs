//! `--progress=plain`: BuildKit's numbered lines, one per event, so CI logs
//! read the same as buildx's (`#5 [build 2/4] RUN make`, `#5 DONE 1.2s`).

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use kiln_solver::Event;

pub fn render(events: impl IntoIterator<Item = Event>) {
    let mut started: HashMap<usize, Instant> = HashMap::new();
    let err = std::io::stderr();
    for e in events {
        let mut out = err.lock();
        let _ = match e {
            Event::Started { vertex, name } => {
                started.insert(vertex, Instant::now());
                writeln!(out, "#{vertex} {name}")
            }
            Event::Cached { vertex, name } => writeln!(out, "#{vertex} {name}\n#{vertex} CACHED"),
            Event::Log { vertex, line } => {
                let t = started
                    .get(&vertex)
                    .map_or(0.0, |s| s.elapsed().as_secs_f64());
                writeln!(out, "#{vertex} {t:.3} {line}")
            }
            Event::Done { vertex, elapsed } => {
                writeln!(out, "#{vertex} DONE {:.1}s", elapsed.as_secs_f64())
            }
            Event::Failed { vertex, message } => writeln!(out, "#{vertex} ERROR: {message}"),
            Event::Warning { message } => writeln!(out, "WARNING: {message}"),
        };
        let _ = out.flush();
    }
}
