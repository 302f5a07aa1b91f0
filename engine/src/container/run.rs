//! Running a container: in the foreground, with this process as its
//! monitor, or handed to a monitor process of its own (`run -d`, `start`).

use std::path::Path;

use kiln_runtime::container::foreground::Attach;
use kiln_runtime::container::health::{Check, Prober};
use kiln_runtime::container::logs::LogConfig;
use kiln_runtime::container::state::{self, Container, Status};
use kiln_runtime::container::wiring::Wiring;
use kiln_runtime::container::{self, bundle, foreground, lifecycle, monitor, Gate, Spawned};
use kiln_runtime::{Outcome, Request};

use super::options::{CreateOptions, Runtime};
use super::spec;
use crate::events::Event;
use crate::{Engine, Error};

/// Docker's exit status when the container could not be created or started.
const SETUP_FAILED: i32 = 125;

impl Engine {
    /// The init helper a foreground run on kiln's runtime needs: `early`
    /// (one started before the options were known, for the same stdio), or
    /// a new one. Other runtimes need none.
    pub fn init_helper(
        &self,
        opts: &CreateOptions,
        early: impl FnOnce() -> Option<Spawned>,
    ) -> Result<Option<Spawned>, Error> {
        Ok(match opts.runtime {
            Runtime::Kiln => Some(match early() {
                Some(h) => h,
                None => container::spawn(opts.stdio())?,
            }),
            _ => None,
        })
    }

    /// Runs `opts` in the foreground to its end, on `helper` when given.
    /// `rm` removes the container afterwards, whatever happened.
    pub fn run_foreground(
        &self,
        opts: &CreateOptions,
        helper: Option<Spawned>,
    ) -> Result<Outcome, Error> {
        if recorded(opts) {
            return self.run_recorded(opts, helper);
        }
        let id = spec::new_id()?;
        let dir = self.containers().dir().join(&id);
        let result = self.run_unrecorded(opts, &id, &dir, helper);
        if opts.rm {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    /// Starts `c` under a monitor process of its own and returns.
    pub fn start_detached(&self, c: &Container) -> Result<(), monitor::Error> {
        monitor::spawn(&c.dir)?;
        self.note(Event::container("start", c));
        Ok(())
    }

    fn run_recorded(
        &self,
        opts: &CreateOptions,
        helper: Option<Spawned>,
    ) -> Result<Outcome, Error> {
        let c = self.create(opts)?;
        let result = self.foreground_recorded(opts, &c, helper);
        if opts.rm && lifecycle::remove_files(&c, true).is_ok() {
            self.note(Event::container("destroy", &c));
            self.sweep_link_network();
        }
        result
    }

    /// The foreground run of a recorded container: this process is its
    /// monitor (it holds the lock and writes the state).
    fn foreground_recorded(
        &self,
        opts: &CreateOptions,
        c: &Container,
        helper: Option<Spawned>,
    ) -> Result<Outcome, Error> {
        let _lock = state::hold_monitor_lock(&c.dir)?;
        let (mut wiring, bound) = Wiring::new(&c.record, self.root()).map_err(Error::Wiring)?;
        c.update(|s| {
            s.status = Status::Running;
            s.monitor_pid = std::process::id() as i32;
            s.ports = bound;
            s.started_at = Some(state::now());
        })?;
        self.note(Event::container("start", c));
        let req = Request {
            id: c.record.id.clone(),
            spec: c.record.spec.clone(),
            rootfs: c.record.rootfs.clone(),
            stdio: opts.stdio(),
        };
        let result = wired_run(&mut wiring, c, req, attach(opts), helper);
        wiring.unwire();
        let code = result
            .as_ref()
            .map(|o| o.exit_code() as i32)
            .unwrap_or(SETUP_FAILED);
        let ended = c.update(|s| {
            s.status = Status::Exited;
            s.pid = 0;
            s.exit_code = code;
            s.finished_at = Some(state::now());
            if let Ok(o) = &result {
                s.oom_killed = o.oom_killed;
            }
        })?;
        self.journal_exit(&Container {
            state: ended,
            ..c.clone()
        });
        Ok(result?)
    }

    /// A run that leaves no record (see [`recorded`]): its directory holds
    /// only the overlay's upper and work dirs, or an OCI bundle.
    fn run_unrecorded(
        &self,
        opts: &CreateOptions,
        id: &str,
        dir: &Path,
        helper: Option<Spawned>,
    ) -> Result<Outcome, Error> {
        let (rootfs, image) = self.rootfs(opts, dir)?;
        let mut config = spec::build_config(opts, &rootfs, &image)?;
        config.binds.extend(self.mounts(opts, &image)?.binds);
        let mut spec = config.to_spec(id)?;
        super::dns::annotate(&mut spec, opts, "")?;
        let mut req = Request {
            id: id.to_string(),
            spec,
            rootfs,
            stdio: opts.stdio(),
        };
        let bundle = dir.join("bundle");
        Ok(match (opts.runtime, helper) {
            (Runtime::Kiln, helper) => {
                let helper = helper_for(&mut req, helper)?;
                foreground::run_logged(helper, req, attach(opts), None, None)?
            }
            (Runtime::Runc, _) => bundle::run(bundle::OciRuntime::Runc, req, &bundle)?,
            (Runtime::Crun, _) => bundle::run(bundle::OciRuntime::Crun, req, &bundle)?,
        })
    }
}

/// A bare `--rootfs` run (a build step's twin, and the latency benchmark)
/// stays unrecorded; anything a user may name, publish or network later
/// gets a container record, as Docker's foreground runs do.
fn recorded(opts: &CreateOptions) -> bool {
    opts.runtime == Runtime::Kiln
        && (opts.rootfs.is_none()
            || opts.name.is_some()
            || opts.cidfile.is_some()
            || !opts.publish.is_empty()
            || !matches!(opts.network.as_str(), "none" | "host" | "private"))
}

/// Runs `req`, wiring its network at the start gate when it has one to wire
/// and noting the container's pid and address in its state. A health
/// check needs the pid too: its probes start there and end with the run.
fn wired_run(
    wiring: &mut Wiring,
    c: &Container,
    mut req: Request,
    attach: Attach,
    helper: Option<Spawned>,
) -> Result<Outcome, container::Error> {
    let dir = c.dir.as_path();
    let wire = wiring.needs_gate();
    let checked = c
        .record
        .config
        .get("Healthcheck")
        .and_then(Check::from_config)
        .is_some();
    let needs = wire || checked;
    let mut prober = None;
    let mut gate = |pid: u32| {
        if checked {
            prober = Prober::start(dir, &c.record, pid as i32);
        }
        if wire {
            wiring.wire(pid)?;
        }
        let ip = wiring.ip.clone();
        state::update_state(dir, |s| {
            s.pid = pid as i32;
            s.ip = ip;
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    let gate: Option<Gate> = if needs { Some(&mut gate) } else { None };
    let helper = helper_for(&mut req, helper)?;
    let log = LogConfig::of(&c.record.spec)
        .open(dir)
        .map_err(container::Error::Io)?;
    let outcome = foreground::run_logged(helper, req, attach, gate, log);
    drop(prober);
    outcome
}

/// The init helper started early, or one started now with `req`'s stdio
/// (which it then owns).
fn helper_for(req: &mut Request, early: Option<Spawned>) -> Result<Spawned, container::Error> {
    match early {
        Some(h) => Ok(h),
        None => container::spawn(std::mem::replace(
            &mut req.stdio,
            kiln_runtime::Stdio::Inherit { stdin: false },
        )),
    }
}

/// What a foreground run of `opts` shares with kiln's caller.
fn attach(opts: &CreateOptions) -> Attach {
    Attach {
        interactive: opts.interactive,
        stdout: opts.attach.stdout,
        stderr: opts.attach.stderr,
        sig_proxy: opts.sig_proxy,
    }
}

impl CreateOptions {
    fn stdio(&self) -> kiln_runtime::Stdio {
        super::stdio(self.tty, self.interactive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_rootfs_runs_go_unrecorded() {
        let bare = CreateOptions {
            rootfs: Some("/r".into()),
            ..CreateOptions::default()
        };
        assert!(!recorded(&bare));
        assert!(recorded(&CreateOptions::default()));
        for o in [
            CreateOptions {
                name: Some("n".into()),
                ..bare.clone()
            },
            CreateOptions {
                publish: vec!["80".into()],
                ..bare.clone()
            },
            CreateOptions {
                network: "mynet".into(),
                ..bare.clone()
            },
        ] {
            assert!(recorded(&o), "{o:?}");
        }
        let runc = CreateOptions {
            runtime: Runtime::Runc,
            ..CreateOptions::default()
        };
        assert!(!recorded(&runc));
    }
}
