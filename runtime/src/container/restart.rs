//! `--restart no|always|on-failure[:N]|unless-stopped` and Docker's backoff
//! (moby `restartmanager`): the delay starts at 100 ms and doubles after
//! each restart up to one minute, and falls back to 100 ms once a run has
//! lasted ten seconds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// `on-failure[:N]`; 0 means no limit.
    OnFailure(u32),
}

#[derive(Debug, thiserror::Error)]
#[error("invalid restart policy {0:?}: use no, always, on-failure[:N] or unless-stopped")]
pub struct BadPolicy(String);

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
const RESET_AFTER: Duration = Duration::from_secs(10);

impl RestartPolicy {
    pub fn parse(text: &str) -> Result<RestartPolicy, BadPolicy> {
        let bad = || BadPolicy(text.into());
        Ok(match text.split_once(':') {
            None => match text {
                "" | "no" => RestartPolicy::No,
                "always" => RestartPolicy::Always,
                "unless-stopped" => RestartPolicy::UnlessStopped,
                "on-failure" => RestartPolicy::OnFailure(0),
                _ => return Err(bad()),
            },
            Some(("on-failure", n)) => RestartPolicy::OnFailure(n.parse().map_err(|_| bad())?),
            Some(_) => return Err(bad()),
        })
    }

    /// Docker's name: `no`, `always`, `on-failure`, `unless-stopped`.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure(_) => "on-failure",
        }
    }

    pub fn max_retries(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure(n) => *n,
            _ => 0,
        }
    }

    /// Whether a run that ended with `exit_code`, after `restarts` restarts
    /// so far, starts again. A stop the user asked for never restarts.
    pub fn should_restart(&self, exit_code: i32, restarts: u32, stopped: bool) -> bool {
        if stopped {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure(max) => exit_code != 0 && (*max == 0 || restarts < *max),
        }
    }
}

/// The delay before the next restart.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    delay: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { delay: FIRST_DELAY }
    }
}

impl Backoff {
    /// The delay to wait now, given how long the last run lasted.
    pub fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RESET_AFTER {
            self.delay = FIRST_DELAY;
        }
        let now = self.delay;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_spellings() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure(3)
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped").unwrap(),
            RestartPolicy::UnlessStopped
        );
        assert!(RestartPolicy::parse("sometimes").is_err());
        assert!(RestartPolicy::parse("on-failure:x").is_err());
    }

    #[test]
    fn on_failure_counts_and_ignores_success() {
        let p = RestartPolicy::OnFailure(3);
        assert!(p.should_restart(1, 2, false));
        assert!(!p.should_restart(1, 3, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(!RestartPolicy::Always.should_restart(1, 0, true));
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        assert_eq!(b.next(short), Duration::from_millis(100));
        assert_eq!(b.next(short), Duration::from_millis(200));
        assert_eq!(b.next(short), Duration::from_millis(400));
        for _ in 0..20 {
            b.next(short);
        }
        assert_eq!(b.next(short), MAX_DELAY);
        assert_eq!(b.next(Duration::from_secs(11)), Duration::from_millis(100));
    }
}
