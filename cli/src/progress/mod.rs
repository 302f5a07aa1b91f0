//! Progress printers for `kiln build` (BuildKit's `--progress` modes):
//! `tty` live lines with timers and a log tail, `plain` numbered lines for
//! CI logs, `rawjson` one JSON event per line. All write to stderr.

mod plain;
mod rawjson;
mod tty;

use std::io::IsTerminal;
use std::sync::mpsc::Receiver;

use kiln_solver::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Auto,
    Tty,
    Plain,
    Rawjson,
    Quiet,
}

/// Renders events until the build drops its sender.
pub fn render(mode: Mode, events: Receiver<Event>) {
    let mode = match mode {
        Mode::Auto if std::io::stderr().is_terminal() => Mode::Tty,
        Mode::Auto => Mode::Plain,
        m => m,
    };
    match mode {
        Mode::Tty => tty::render(events),
        Mode::Plain => plain::render(events),
        Mode::Rawjson => rawjson::render(events),
        Mode::Quiet | Mode::Auto => {
            for e in events {
                if let Event::Warning { message } = e {
                    eprintln!("WARNING: {message}");
                }
            }
        }
    }
}
