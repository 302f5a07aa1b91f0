//! Progress printers for `kiln build` (BuildKit's `--progress` modes):
//! `tty` live lines with timers and a log tail, `plain` numbered lines for
//! CI logs, `rawjson` one JSON event per line. All write to stderr.

pub mod live;
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

/// The most characters of a step's name (its instruction) a line shows.
const NAME_WIDTH: usize = 500;

/// An event with the Dockerfile's words made safe for a terminal: a step's
/// name is its instruction as written, which may hold escape sequences or
/// run for a megabyte. A step's own output is shown as it is, as Docker does.
fn for_terminal(e: Event) -> Event {
    use kiln_parser::excerpt::{excerpt, MESSAGE_WIDTH};
    match e {
        Event::Started { vertex, name } => Event::Started {
            vertex,
            name: excerpt(&name, NAME_WIDTH),
        },
        Event::Cached { vertex, name } => Event::Cached {
            vertex,
            name: excerpt(&name, NAME_WIDTH),
        },
        Event::Warning { message } => Event::Warning {
            message: excerpt(&message, MESSAGE_WIDTH),
        },
        other => other,
    }
}

/// Renders events until the build drops its sender.
pub fn render(mode: Mode, events: Receiver<Event>) {
    let mode = match mode {
        Mode::Auto if std::io::stderr().is_terminal() => Mode::Tty,
        Mode::Auto => Mode::Plain,
        m => m,
    };
    match mode {
        // Events come one at a time with timers ticking between them.
        Mode::Tty => tty::render(events),
        Mode::Plain => plain::render(events.into_iter().map(for_terminal)),
        // JSON escapes control characters itself; machines get every byte.
        Mode::Rawjson => rawjson::render(events),
        Mode::Quiet | Mode::Auto => {
            for e in events.into_iter().map(for_terminal) {
                if let Event::Warning { message } = e {
                    eprintln!("WARNING: {message}");
                }
            }
        }
    }
}
