//! `--progress=tty`: one live line per running step with its timer and the
//! last line of its output (indicatif); finished steps stay as one line. A
//! failing step's whole output is printed when it fails.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_solver::Event;

struct Running {
    bar: ProgressBar,
    name: String,
    log: Vec<String>,
}

pub fn render(events: impl IntoIterator<Item = Event>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut running: HashMap<usize, Running> = HashMap::new();
    for e in events {
        match e {
            Event::Started { vertex, name } => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(format!("#{vertex} {name}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                running.insert(
                    vertex,
                    Running {
                        bar,
                        name,
                        log: Vec::new(),
                    },
                );
            }
            Event::Cached { vertex, name } => {
                let _ = multi.println(format!(" => #{vertex} {name}  CACHED"));
            }
            Event::Log { vertex, line } => {
                if let Some(r) = running.get_mut(&vertex) {
                    r.bar.set_message(line.clone());
                    r.log.push(line);
                }
            }
            Event::Done { vertex, elapsed } => {
                if let Some(r) = running.remove(&vertex) {
                    r.bar.finish_and_clear();
                    let _ = multi.println(format!(
                        " => #{vertex} {}  {:.1}s",
                        r.name,
                        elapsed.as_secs_f64()
                    ));
                }
            }
            Event::Failed { vertex, message } => {
                if let Some(r) = running.remove(&vertex) {
                    r.bar.finish_and_clear();
                    let _ = multi.println(format!(" => ERROR #{vertex} {}", r.name));
                    for line in &r.log {
                        let _ = multi.println(format!("    {line}"));
                    }
                    let _ = multi.println(format!("    {message}"));
                }
            }
            Event::Warning { message } => {
                let _ = multi.println(format!("WARNING: {message}"));
            }
        }
    }
    for (_, r) in running {
        r.bar.finish_and_clear();
    }
}
