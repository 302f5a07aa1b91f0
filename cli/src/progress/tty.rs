//! `--progress=tty`: finished steps as lines that stay, and below them one
//! live line per running step with its timer and the last line of its
//! output, redrawn in place ([`Live`]). A failing step's whole output is
//! printed when it fails.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use kiln_solver::Event;

use super::for_terminal;
use super::live::{cut, Live};

/// Timers tick this often, and a step's output redraws at most this often.
const TICK: Duration = Duration::from_millis(100);

struct Running {
    vertex: usize,
    name: String,
    started: Instant,
    log: Vec<String>,
}

pub fn render(events: Receiver<Event>) {
    let mut live = Live::stderr();
    // Steps in the order they started, so lines do not swap places.
    let mut running: Vec<Running> = Vec::new();
    let mut above: Vec<String> = Vec::new();
    let mut last_draw: Option<Instant> = None;
    loop {
        let mut now_due = false;
        match events.recv_timeout(TICK) {
            Ok(e) => now_due = handle(for_terminal(e), &mut running, &mut above),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let due = last_draw.is_none_or(|t| t.elapsed() >= TICK);
        if now_due || due || !above.is_empty() {
            let lines = frame(&running, live.width());
            live.draw(&above, &lines);
            above.clear();
            last_draw = Some(Instant::now());
        }
    }
    live.finish(&above);
}

/// Applies `e`; true when the set of running steps changed.
fn handle(e: Event, running: &mut Vec<Running>, above: &mut Vec<String>) -> bool {
    let mut take = |vertex: usize| {
        running
            .iter()
            .position(|r| r.vertex == vertex)
            .map(|i| running.remove(i))
    };
    match e {
        Event::Started { vertex, name } => {
            running.push(Running {
                vertex,
                name,
                started: Instant::now(),
                log: Vec::new(),
            });
            return true;
        }
        Event::Cached { vertex, name } => above.push(format!(" => #{vertex} {name}  CACHED")),
        Event::Log { vertex, line } => {
            if let Some(r) = running.iter_mut().find(|r| r.vertex == vertex) {
                r.log.push(line);
            }
        }
        Event::Done { vertex, elapsed } => {
            if let Some(r) = take(vertex) {
                above.push(format!(
                    " => #{vertex} {}  {:.1}s",
                    r.name,
                    elapsed.as_secs_f64()
                ));
            }
            return true;
        }
        Event::Failed { vertex, message } => {
            if let Some(r) = take(vertex) {
                above.push(format!(" => ERROR #{vertex} {}", r.name));
                above.extend(r.log.iter().map(|l| format!("    {l}")));
            }
            above.push(format!("    {message}"));
            return true;
        }
        Event::Warning { message } => above.push(format!("WARNING: {message}")),
    }
    false
}

/// ` => #5 [build 2/4] RUN make …  3.2s`, the timer kept in view however
/// long the name, and under it the step's last line of output.
fn frame(running: &[Running], width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for r in running {
        let time = format!("  {:.1}s", r.started.elapsed().as_secs_f64());
        let head = format!(" => #{} {}", r.vertex, r.name);
        let (head, _) = cut(&head, width.saturating_sub(time.len()));
        lines.push(format!("{head}{time}"));
        // A progress meter's line is its last redraw after a `\r`.
        let last = r
            .log
            .last()
            .and_then(|l| l.rsplit('\r').find(|s| !s.trim().is_empty()));
        if let Some(last) = last {
            lines.push(format!("    {last}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_keeps_its_timer_in_view() {
        let r = Running {
            vertex: 7,
            name: format!("[build 2/4] RUN {}", "x".repeat(300)),
            started: Instant::now(),
            log: vec!["10%\r55%\r".into()],
        };
        let lines = frame(&[r], 60);
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].ends_with("s") && lines[0].contains("…  0."),
            "{lines:?}"
        );
        assert!(lines[0].chars().count() <= 60);
        assert_eq!(lines[1], "    55%");
    }

    #[test]
    fn finished_steps_leave_the_frame_for_good() {
        let mut running = Vec::new();
        let mut above = Vec::new();
        let started = Event::Started {
            vertex: 1,
            name: "[a 1/1] RUN true".into(),
        };
        assert!(handle(started, &mut running, &mut above));
        assert_eq!(frame(&running, 80).len(), 1);
        let done = Event::Done {
            vertex: 1,
            elapsed: Duration::from_millis(1500),
        };
        assert!(handle(done, &mut running, &mut above));
        assert!(running.is_empty());
        assert_eq!(above, [" => #1 [a 1/1] RUN true  1.5s"]);
    }
}
