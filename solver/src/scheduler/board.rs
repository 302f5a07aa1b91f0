//! Where the stage workers of one build meet: the results of finished
//! stages (a step that reads another stage waits here for it, and only
//! that step waits), the first failure, and the `--jobs` permits that cap
//! how many steps execute at once.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::cancel::Cancel;
use crate::BuildError;

use super::StageResult;

/// How often a waiting worker looks at the cancel flag (Ctrl-C sets it
/// from a signal handler, which cannot notify a condition variable).
const POLL: Duration = Duration::from_millis(50);

#[derive(Default)]
struct State {
    results: HashMap<usize, Arc<StageResult>>,
    failed: Option<BuildError>,
    running: usize,
}

pub struct Board {
    state: Mutex<State>,
    changed: Condvar,
    jobs: usize,
    /// The stages that run, by index, with their labels.
    scheduled: HashMap<usize, String>,
    cancel: Arc<Cancel>,
}

/// One executing step's share of `--jobs`; returned when dropped.
pub struct Permit<'a>(&'a Board);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.running = s.running.saturating_sub(1);
        }
        self.0.changed.notify_all();
    }
}

impl Board {
    pub fn new(jobs: usize, scheduled: HashMap<usize, String>, cancel: Arc<Cancel>) -> Board {
        Board {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            jobs: jobs.max(1),
            scheduled,
            cancel,
        }
    }

    /// Whether stage `i` runs in this build (an imported cache may make a
    /// stage unnecessary).
    pub fn is_scheduled(&self, i: usize) -> bool {
        self.scheduled.contains_key(&i)
    }

    /// How progress names stage `i`.
    pub fn label(&self, i: usize) -> String {
        self.scheduled
            .get(&i)
            .cloned()
            .unwrap_or_else(|| i.to_string())
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, BuildError> {
        self.state
            .lock()
            .map_err(|_| BuildError::Internal("scheduler lock poisoned"))
    }

    /// Blocks until `ready` gives a value, the build fails or is cancelled.
    fn wait<T>(&self, mut ready: impl FnMut(&mut State) -> Option<T>) -> Result<T, BuildError> {
        let mut s = self.lock()?;
        loop {
            if let Some(v) = ready(&mut s) {
                return Ok(v);
            }
            if s.failed.is_some() || self.cancel.is_cancelled() {
                return Err(BuildError::Cancelled);
            }
            s = self
                .changed
                .wait_timeout(s, POLL)
                .map_err(|_| BuildError::Internal("scheduler lock poisoned"))?
                .0;
        }
    }

    /// The result of stage `i`, once it is finished.
    pub fn wait_for(&self, i: usize) -> Result<Arc<StageResult>, BuildError> {
        if !self.is_scheduled(i) {
            return Err(BuildError::Internal(
                "a step reads a stage that does not run",
            ));
        }
        self.wait(|s| s.results.get(&i).cloned())
    }

    /// A permit to execute one step.
    pub fn permit(&self) -> Result<Permit<'_>, BuildError> {
        let jobs = self.jobs;
        self.wait(|s| {
            (s.running < jobs).then(|| {
                s.running += 1;
            })
        })?;
        Ok(Permit(self))
    }

    /// Records how stage `i` ended. The first failure stops the others:
    /// their results are not needed any more.
    pub fn finish(&self, i: usize, result: Result<StageResult, BuildError>) {
        if let Ok(mut s) = self.state.lock() {
            match result {
                Ok(r) => {
                    s.results.insert(i, Arc::new(r));
                }
                Err(e) => {
                    if s.failed.is_none() {
                        if !matches!(e, BuildError::Cancelled) {
                            self.cancel.cancel();
                        }
                        s.failed = Some(e);
                    }
                }
            }
        }
        self.changed.notify_all();
    }

    /// Every stage's result, or the first failure.
    pub fn outcome(self) -> Result<HashMap<usize, Arc<StageResult>>, BuildError> {
        let s = self
            .state
            .into_inner()
            .map_err(|_| BuildError::Internal("scheduler lock poisoned"))?;
        match s.failed {
            Some(e) => Err(e),
            None if self.scheduled.keys().all(|i| s.results.contains_key(i)) => Ok(s.results),
            None => Err(BuildError::Internal("stages left unscheduled")),
        }
    }
}
