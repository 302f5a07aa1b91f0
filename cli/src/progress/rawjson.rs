//! `--progress=rawjson`: one JSON object per event, for machines.

use std::io::Write;
use std::sync::mpsc::Receiver;

use kiln_solver::Event;

pub fn render(events: Receiver<Event>) {
    let err = std::io::stderr();
    for e in events {
        if let Ok(line) = serde_json::to_string(&e) {
            let mut out = err.lock();
            let _ = writeln!(out, "{line}");
        }
    }
}
