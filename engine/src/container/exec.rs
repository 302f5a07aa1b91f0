//! A command in a running container's namespaces and cgroup (`exec`), with
//! the container's own spec (environment, capabilities, seccomp) under the
//! caller's additions.

use kiln_runtime::container::exec::{self, ExecRequest};
use kiln_runtime::container::state::Status;

use crate::{Engine, Error};

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub command: Vec<String>,
    /// `K=V`, over the container's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// `name|uid[:group|gid]`
    pub user: Option<String>,
    pub tty: bool,
    pub privileged: bool,
    /// Return once the command started (its status is not known).
    pub detach: bool,
}

impl Engine {
    /// Runs the command to its end; its exit status (Docker's 126/127 when
    /// the command cannot be run). A command that could not be started at
    /// all is [`Error::Exec`].
    pub fn exec(&self, key: &str, opts: &ExecOptions) -> Result<u8, Error> {
        let req = self.exec_request(key, opts)?;
        exec::run(&req, opts.detach).map_err(Error::Exec)
    }

    /// Starts the command with the given stdio (the API's connection) and
    /// returns its helper process, whose exit status is the command's.
    pub fn exec_spawn(
        &self,
        key: &str,
        opts: &ExecOptions,
        stdio: [std::process::Stdio; 3],
    ) -> Result<std::process::Child, Error> {
        let req = self.exec_request(key, opts)?;
        let [stdin, stdout, stderr] = stdio;
        exec::spawn(&req, stdin, stdout, stderr).map_err(Error::Exec)
    }

    /// The request for a command in `key`, which must be running.
    fn exec_request(&self, key: &str, opts: &ExecOptions) -> Result<ExecRequest, Error> {
        let c = self.container(key)?;
        match c.state.status {
            Status::Running => {}
            Status::Paused => return Err(Error::Paused(c.record.name)),
            _ => return Err(Error::NotRunning(c.record.name)),
        }
        let req = ExecRequest {
            pid: c.state.pid,
            spec: c.record.spec,
            args: opts.command.clone(),
            env: opts.env.clone(),
            workdir: opts.workdir.clone(),
            user: opts.user.clone(),
            tty: opts.tty,
            privileged: opts.privileged,
        };
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_in_a_missing_container_names_it() {
        let root = tempfile::tempdir().unwrap();
        let err = Engine::new(root.path())
            .exec("nope", &ExecOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::State(_)), "{err:?}");
    }
}
