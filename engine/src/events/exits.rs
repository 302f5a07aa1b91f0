//! `die` events. A foreground run's exit is seen by the process running
//! it; a detached container's by its monitor, which belongs to the
//! runtime and knows no journal. So the exit recorded in the container's
//! state is journaled by whichever kiln process looks next (any container
//! operation on it, a reader of the events, a follower every poll), and
//! the exit already journaled is remembered in the container's directory
//! so it is journaled once. Exits of a container restarted by its policy
//! between two looks are seen as the last one only.

use std::fs;

use kiln_runtime::container::state::{Container, Status};

use super::Event;
use crate::filter::created_time;
use crate::Engine;

/// `<container>/die-event`: the `finished_at` of the exit last journaled.
const MARK: &str = "die-event";

impl Engine {
    /// Journals the exits of every container not journaled yet.
    pub(crate) fn journal_exits(&self) {
        for c in self.containers().list().unwrap_or_default() {
            self.journal_exit(&c);
        }
    }

    /// Journals `c`'s last exit (as its state says) unless it already is.
    pub(crate) fn journal_exit(&self, c: &Container) {
        self.journal_health(c);
        if unjournaled(c).is_none() {
            return;
        }
        let journal = self.journal();
        let Ok(locked) = journal.lock() else {
            return;
        };
        // Asked again under the lock: another process may have journaled it.
        let Some(finished) = unjournaled(c) else {
            return;
        };
        let when = created_time(&finished).unwrap_or_else(std::time::SystemTime::now);
        let event = Event::container("die", c)
            .dated(when)
            .with("exitCode", c.state.exit_code.to_string());
        if locked.append(&event).is_ok() {
            let _ = fs::write(c.dir.join(MARK), &finished);
        }
    }
}

/// The finish time of `c`'s exit if it ended and that exit is not
/// journaled.
fn unjournaled(c: &Container) -> Option<String> {
    if !matches!(c.state.status, Status::Exited | Status::Dead) {
        return None;
    }
    let finished = c.state.finished_at.clone()?;
    let marked = fs::read_to_string(c.dir.join(MARK)).unwrap_or_default();
    (marked != finished).then_some(finished)
}
