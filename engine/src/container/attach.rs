//! Joining a running container's stdio through its monitor (`attach`,
//! `start -a`): from this process's terminal, or from any streams (the
//! API's hijacked connection). The detach keys leave the container
//! running.

use std::io::{Read, Write};
use std::str::FromStr;
use std::time::Duration;

use kiln_runtime::container::attach::{self, End, Options};
use kiln_runtime::container::lifecycle;
use kiln_runtime::container::state::Container;

use crate::{Engine, Error};

/// How long the state may lag behind the end of the relay.
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// Docker's `--detach-keys` (`ctrl-p,ctrl-q`, `ctrl-a,x` …), read before
/// attaching so a bad one fails first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(pub Vec<u8>);

impl FromStr for DetachKeys {
    type Err = Error;

    fn from_str(text: &str) -> Result<DetachKeys, Error> {
        Ok(DetachKeys(attach::parse_keys(text)?))
    }
}

impl Default for DetachKeys {
    fn default() -> DetachKeys {
        DetachKeys(vec![0x10, 0x11])
    }
}

#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Forward stdin, if the container keeps its stdin open.
    pub stdin: bool,
    pub detach_keys: DetachKeys,
    /// Also the current run's output so far (`start -a`, which attaches
    /// just after the start and must not miss the first lines).
    pub from_start: bool,
}

/// How an attach ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The detach keys were typed; the container runs on.
    Detached,
    /// The run ended with this status (0 if the state did not say in time).
    Exited(i32),
}

impl Engine {
    /// Docker's `attach`: only to a live container.
    pub fn attach(&self, key: &str, opts: &AttachOptions) -> Result<AttachEnd, Error> {
        let c = self.container(key)?;
        if !c.state.status.is_live() {
            return Err(Error::AttachStopped);
        }
        attach_to(&c, opts)
    }

    /// `attach` with the container's stdin read from `input` and its
    /// output written to `out` and `err`, this process's terminal left
    /// alone.
    pub fn attach_streams(
        &self,
        key: &str,
        opts: &AttachOptions,
        input: Option<Box<dyn Read + Send>>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<AttachEnd, Error> {
        let (c, end) = self.relay(key, opts, input, out, err)?;
        Ok(ended(&c, end))
    }

    /// As [`Engine::attach_streams`], returning as soon as the relay ends,
    /// without waiting for the exit status to be recorded (an API client
    /// learns it from `wait`); whether the detach keys ended it.
    pub fn relay_streams(
        &self,
        key: &str,
        opts: &AttachOptions,
        input: Option<Box<dyn Read + Send>>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<bool, Error> {
        Ok(self.relay(key, opts, input, out, err)?.1 == End::Detached)
    }

    fn relay(
        &self,
        key: &str,
        opts: &AttachOptions,
        input: Option<Box<dyn Read + Send>>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<(Container, End), Error> {
        let c = self.container(key)?;
        // A client that started the container (`from_start`) may find its
        // run already over: the monitor keeps that run's output for it.
        if !c.state.status.is_live() && !opts.from_start {
            return Err(Error::AttachStopped);
        }
        let input = input.filter(|_| opts.stdin && c.record.open_stdin);
        let end = attach::attach_streams(&c.dir, &relay_options(&c, opts), input, out, err)?;
        Ok((c, end))
    }
}

fn relay_options(c: &Container, opts: &AttachOptions) -> Options {
    Options {
        stdin: opts.stdin && c.record.open_stdin,
        detach_keys: opts.detach_keys.0.clone(),
        from_start: opts.from_start,
        tty: c.record.tty,
    }
}

fn ended(c: &Container, end: End) -> AttachEnd {
    match end {
        End::Detached => AttachEnd::Detached,
        // The relay closes as the run ends; the state follows a moment later.
        End::Closed => {
            AttachEnd::Exited(lifecycle::wait_stopped(&c.dir, EXIT_WAIT).map_or(0, |s| s.exit_code))
        }
    }
}

/// Attached until the container's run ends or the detach keys are typed.
pub fn attach_to(c: &Container, opts: &AttachOptions) -> Result<AttachEnd, Error> {
    let end = attach::attach(&c.dir, &relay_options(c, opts))?;
    Ok(ended(c, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_detach_keys_parse_and_default_to_ctrl_p_ctrl_q() {
        assert_eq!(DetachKeys::default(), "ctrl-p,ctrl-q".parse().unwrap());
        assert_eq!("ctrl-a,x".parse::<DetachKeys>().unwrap().0, [1, b'x']);
        let err = "ctrl-".parse::<DetachKeys>().unwrap_err();
        assert!(matches!(err, Error::Attach(_)), "{err:?}");
    }

    #[test]
    fn attaching_to_a_missing_container_names_it() {
        let root = tempfile::tempdir().unwrap();
        let err = Engine::new(root.path())
            .attach("nope", &AttachOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::State(_)), "{err:?}");
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        let err = Engine::new(root.path())
            .attach_streams("nope", &AttachOptions::default(), None, &mut out, &mut errs)
            .unwrap_err();
        assert!(matches!(err, Error::State(_)), "{err:?}");
    }
}
