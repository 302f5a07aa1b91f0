//! `docker pull` and `docker push`'s progress on stderr, drawn from the
//! engine's transfer events.

use std::collections::HashMap;
use std::io::{self, IsTerminal};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiln_cache::units::human_size;
use kiln_cache::Digest;
use kiln_engine::images::{LayerEvent, LayerState};

use crate::progress::live::Live;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Pull,
    Push,
}

/// Renders transfer events as Docker does: one line per layer on a
/// terminal, redrawn in place with a bar while bytes move and left in its
/// final state; a line per state change otherwise (byte counts only on a
/// terminal); nothing when quiet.
pub(super) struct TransferView {
    quiet: bool,
    direction: Direction,
    state: Mutex<ViewState>,
}

#[derive(Default)]
struct ViewState {
    /// The live lines on a terminal; `None` when stderr is not one.
    live: Option<Live<io::Stderr>>,
    /// Layers in the order they were first reported.
    layers: Vec<Layer>,
    last_line: HashMap<Digest, &'static str>,
    last_draw: Option<Instant>,
}

struct Layer {
    digest: Digest,
    size: u64,
    state: LayerState,
}

/// Docker's bar is 50 wide; at 30 a layer's line is under 80 columns, so
/// narrowing a terminal to 80 re-wraps none of them.
const BAR_WIDTH: usize = 30;

/// Byte counts redraw at most this often; a change of state at once.
const REDRAW: Duration = Duration::from_millis(80);

impl TransferView {
    pub(super) fn new(quiet: bool, direction: Direction) -> TransferView {
        let live = (!quiet && io::stderr().is_terminal()).then(Live::stderr);
        TransferView {
            quiet,
            direction,
            state: Mutex::new(ViewState {
                live,
                ..ViewState::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ViewState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn show(&self, event: &LayerEvent) {
        if self.quiet {
            return;
        }
        let mut state = self.lock();
        let text = self.describe(&event.state);
        if state.live.is_none() {
            let line = match &event.state {
                LayerState::Mounted { from } => format!("Mounted from {from}"),
                _ => text.to_string(),
            };
            if state.last_line.insert(event.digest, text) != Some(text) {
                eprintln!("{}: {line}", event.digest.short());
            }
            return;
        }
        let changed = match state.layers.iter_mut().find(|l| l.digest == event.digest) {
            Some(layer) => {
                let changed =
                    std::mem::discriminant(&layer.state) != std::mem::discriminant(&event.state);
                layer.state = event.state.clone();
                layer.size = event.size;
                changed
            }
            None => {
                state.layers.push(Layer {
                    digest: event.digest,
                    size: event.size,
                    state: event.state.clone(),
                });
                true
            }
        };
        let due = state.last_draw.is_none_or(|t| t.elapsed() >= REDRAW);
        if changed || due {
            self.redraw(&mut state);
        }
    }

    fn redraw(&self, state: &mut ViewState) {
        let ViewState {
            live: Some(live),
            layers,
            ..
        } = state
        else {
            return;
        };
        let width = live.width();
        let lines: Vec<String> = layers.iter().map(|l| self.line(l, width)).collect();
        live.draw(&[], &lines);
        state.last_draw = Some(Instant::now());
    }

    /// `2c54f5ec7594: Downloading [=====>      ]  12.5MB/38.1MB`; the bar
    /// only where it fits, as Docker leaves it out of narrow terminals.
    fn line(&self, layer: &Layer, width: usize) -> String {
        let head = format!("{}: ", layer.digest.short());
        let done = match &layer.state {
            LayerState::Mounted { from } => return format!("{head}Mounted from {from}"),
            LayerState::Downloading { done } | LayerState::Uploading { done } => *done,
            state => return format!("{head}{}", self.describe(state)),
        };
        let text = self.describe(&layer.state);
        let counts = format!("{:>8}/{}", human_size(done), human_size(layer.size));
        let room = width.saturating_sub(head.len() + text.len() + counts.len() + 2);
        let bar_width = room.saturating_sub(3).min(BAR_WIDTH);
        if layer.size == 0 || bar_width < 10 {
            return format!("{head}{text} {counts}");
        }
        let filled =
            ((done.min(layer.size) as f64 / layer.size as f64) * bar_width as f64) as usize;
        let mut bar = "=".repeat(filled);
        if filled < bar_width {
            bar.push('>');
            bar.push_str(&" ".repeat(bar_width - filled - 1));
        }
        format!("{head}{text} [{bar}] {counts}")
    }

    fn describe(&self, state: &LayerState) -> &'static str {
        match (state, self.direction) {
            (LayerState::Waiting, Direction::Pull) => "Pulling fs layer",
            (LayerState::Waiting, Direction::Push) => "Preparing",
            (LayerState::Exists, Direction::Pull) => "Already exists",
            (LayerState::Exists, Direction::Push) => "Layer already exists",
            (LayerState::Downloading { .. }, _) => "Downloading",
            (LayerState::Extracting, _) => "Extracting",
            (LayerState::Complete, _) => "Pull complete",
            (LayerState::Mounted { .. }, _) => "Mounted",
            (LayerState::Uploading { .. }, _) => "Pushing",
            (LayerState::Pushed, _) => "Pushed",
        }
    }

    /// Leaves each layer's last line on the screen (a layer cut short by an
    /// error keeps the state it reached).
    pub(super) fn finish(&self) {
        let mut state = self.lock();
        let Some(mut live) = state.live.take() else {
            return;
        };
        let width = live.width();
        let lines: Vec<String> = state.layers.iter().map(|l| self.line(l, width)).collect();
        live.finish(&lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(size: u64, state: LayerState) -> Layer {
        Layer {
            digest: Digest::of_bytes(b"layer"),
            size,
            state,
        }
    }

    fn view(direction: Direction) -> TransferView {
        TransferView::new(true, direction)
    }

    #[test]
    fn a_moving_layer_has_a_bar_where_it_fits() {
        let l = layer(1000, LayerState::Downloading { done: 500 });
        let wide = view(Direction::Pull).line(&l, 120);
        assert!(
            wide.contains("Downloading [") && wide.ends_with("500B/1kB"),
            "{wide}"
        );
        let narrow = view(Direction::Pull).line(&l, 40);
        assert!(!narrow.contains('['), "{narrow}");
    }

    #[test]
    fn states_read_as_docker_words_them_for_each_direction() {
        let l = layer(1, LayerState::Exists);
        assert!(view(Direction::Pull)
            .line(&l, 80)
            .ends_with(": Already exists"));
        assert!(view(Direction::Push)
            .line(&l, 80)
            .ends_with(": Layer already exists"));
        let from = LayerState::Mounted {
            from: "lib/bb".into(),
        };
        assert!(view(Direction::Push)
            .line(&layer(1, from), 80)
            .ends_with(": Mounted from lib/bb"));
    }
}
