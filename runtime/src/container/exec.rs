//! `kiln exec`: kiln re-executed as `kiln __kiln-exec JSON` (single-
//! threaded, so it may join a mount namespace) joins the running
//! container's cgroup and namespaces, forks so the command lands in its
//! PID namespace, and applies the container's capabilities, seccomp
//! profile and the requested user before exec. The parent stays outside,
//! forwards signals and returns the command's status.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio as S};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::{Spec, UserBuilder};
use serde::{Deserialize, Serialize};

use super::terminal::{copy_size, RawMode};
use crate::process::init::{forwarded_mask, set_no_new_privs, switch_user, Failure};
use crate::process::rootfs::Rootfs;
use crate::process::{capabilities, exec as pexec, seccomp};
use crate::syscalls::{as_errno, Real, Syscalls};

/// argv[1] of the exec helper.
pub const MARKER: &str = "__kiln-exec";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("starting the exec helper: {0}")]
    Spawn(std::io::Error),
    #[error("exec request: {0}")]
    Json(#[from] serde_json::Error),
}

/// One `kiln exec`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The container's first process (host pid).
    pub pid: i32,
    /// The container's spec: environment, capabilities, seccomp, cwd.
    pub spec: Spec,
    pub args: Vec<String>,
    /// `-e K=V`, over the container's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub privileged: bool,
}

/// Runs the command; `detach` returns at once (`exec -d`). The result is
/// the exit status Docker reports (126/127 when the command cannot run).
pub fn run(req: &ExecRequest, detach: bool) -> Result<u8, Error> {
    let json = serde_json::to_string(req)?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(MARKER).arg(json);
    if detach {
        cmd.stdin(S::null()).stdout(S::null()).stderr(S::null());
        cmd.spawn().map_err(Error::Spawn)?;
        return Ok(0);
    }
    let mut old = SigSet::empty();
    let _ = sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&forwarded_mask()),
        Some(&mut old),
    );
    let status = cmd.status().map_err(Error::Spawn);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    Ok(status?.code().unwrap_or(1) as u8)
}

/// Starts the command with the given stdio (an API connection's pipes
/// or pty) and returns the helper, whose exit status is the command's.
pub fn spawn(
    req: &ExecRequest,
    stdin: S,
    stdout: S,
    stderr: S,
) -> Result<std::process::Child, Error> {
    let json = serde_json::to_string(req)?;
    Command::new("/proc/self/exe")
        .arg(MARKER)
        .arg(json)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(Error::Spawn)
}

/// The helper's `main`.
pub fn main(json: &str) -> ExitCode {
    let req: ExecRequest = match serde_json::from_str(json) {
        Ok(r) => r,
        Err(e) => return fail(&format!("exec request: {e}")),
    };
    if let Err(e) = join(req.pid) {
        return fail(&e);
    }
    if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded_mask()), None).is_err() {
        return fail("signal mask");
    }
    let pty = if req.tty {
        match nix::pty::openpty(None, None) {
            Ok(p) => {
                // Sized before the command starts, which may ask at once.
                copy_size(std::io::stdin().as_fd(), &p.master);
                Some(p)
            }
            Err(e) => return fail(&format!("openpty: {e}")),
        }
    } else {
        None
    };
    // SAFETY: this process is a fresh exec, single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let slave = pty.map(|p| p.slave);
            let code = match command(&req, slave) {
                Ok(never) => match never {},
                Err(Failure::Exec(e)) => {
                    eprintln!("kiln: {e}");
                    e.exit_code() as i32
                }
                Err(Failure::Setup(e)) => {
                    eprintln!("kiln: exec: {e}");
                    126
                }
            };
            // SAFETY: ends the forked child without unwinding.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => ExitCode::from(supervise(child, pty.map(|p| p.master))),
        Err(e) => fail(&format!("fork: {e}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("kiln: exec: {message}");
    ExitCode::from(126)
}

/// Joins the cgroups and namespaces of `pid`.
fn join(pid: i32) -> Result<(), String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|_| format!("process {pid} is gone"))?;
    join_cgroups(&text);
    let kinds = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    // All opened first: after joining the mount namespace, /proc is the
    // container's and no longer shows `pid`.
    let mut fds: Vec<(OwnedFd, CloneFlags)> = Vec::new();
    for (name, flag) in kinds {
        let path = format!("/proc/{pid}/ns/{name}");
        // Already ours (the host's cgroup namespace on v1): joining it
        // changes nothing, and a rootless kiln may not (its owner is the
        // host's user namespace).
        if same_namespace(&format!("/proc/self/ns/{name}"), &path) {
            continue;
        }
        match std::fs::File::open(&path) {
            Ok(f) => fds.push((f.into(), flag)),
            Err(e) => return Err(format!("{path}: {e}")),
        }
    }
    enter(&Real, &fds)
}

fn same_namespace(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Enters each namespace in the order given, stopping at the first that
/// cannot be entered.
fn enter<S: Syscalls>(sys: &S, namespaces: &[(OwnedFd, CloneFlags)]) -> Result<(), String> {
    for (fd, flag) in namespaces {
        sys.setns(fd.as_fd(), *flag)
            .map_err(|e| format!("joining {flag:?}: {}", as_errno(&e)))?;
    }
    Ok(())
}

/// Writes this process into each hierarchy's cgroup of the container
/// (`N:controllers:/path` lines of `/proc/PID/cgroup`). On v1 the helper is
/// still single-threaded here, so writing "0" to `tasks` moves all of it
/// while skipping the RCU grace period a `cgroup.procs` write waits for
/// (~10 ms per hierarchy on this kernel, see cgroups/v1.rs).
fn join_cgroups(proc_cgroup: &str) {
    let root = Path::new(crate::cgroups::DEFAULT_ROOT);
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        let base = match ctrls {
            "" if root.join("cgroup.controllers").exists() => root.to_path_buf(),
            "" => root.join("unified"),
            c => root.join(c.trim_start_matches("name=")),
        };
        let file = if ctrls.is_empty() {
            "cgroup.procs"
        } else {
            "tasks"
        };
        let _ = std::fs::write(base.join(rel).join(file), "0");
    }
}

enum Never {}

/// In the child: user, environment, capabilities, seccomp, then exec.
fn command(req: &ExecRequest, slave: Option<OwnedFd>) -> Result<Never, Failure> {
    let setup = |what: &'static str| move |e: String| Failure::Setup(format!("{what}: {e}"));
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // A session of its own, out of kiln's process group; with `-t` the
    // pty's attach makes it (a second setsid would fail with EPERM, as a
    // session leader may not make another) and takes the pty as its
    // controlling terminal.
    match slave {
        Some(s) => crate::process::pty::attach(&s).map_err(|e| setup("pty")(e.to_string()))?,
        None => {
            let _ = nix::unistd::setsid();
        }
    }
    let process = req
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Failure::Setup("the container has no process".into()))?;
    let mut user = process.user().clone();
    if let Some(u) = &req.user {
        let r = crate::process::user::resolve_user(&Rootfs::Dir("/".into()), u)
            .map_err(|e| setup("user")(e.to_string()))?;
        user = UserBuilder::default()
            .uid(r.uid)
            .gid(r.gid)
            .additional_gids(r.additional_gids)
            .build()
            .map_err(|e| setup("user")(e.to_string()))?;
    }
    let cwd = req
        .workdir
        .clone()
        .unwrap_or_else(|| process.cwd().display().to_string());
    nix::unistd::chdir(Path::new(&cwd)).map_err(|e| setup("chdir")(e.to_string()))?;
    let env = merged_env(process.env().clone().unwrap_or_default(), &req.env, req.tty);
    let mut caps = process.capabilities().clone().unwrap_or_default();
    if req.privileged {
        let all = caps.bounding().clone();
        caps.set_effective(all.clone());
        caps.set_permitted(all.clone());
        caps.set_inheritable(all);
    }
    let filters = seccomp::compile_spec(&req.spec).map_err(|e| setup("seccomp")(e.to_string()))?;
    let programs = seccomp::programs(&filters);
    let nnp = process.no_new_privileges().unwrap_or(false);
    if nnp {
        set_no_new_privs()?;
    }
    capabilities::limit_bounding(&caps).map_err(|e| setup("capabilities")(e.to_string()))?;
    if !nnp {
        seccomp::apply(&programs).map_err(|e| setup("seccomp")(e.to_string()))?;
    }
    switch_user(&user, &caps)?;
    if nnp {
        seccomp::apply(&programs).map_err(|e| setup("seccomp")(e.to_string()))?;
    }
    let path_env = env.iter().find_map(|e| e.strip_prefix("PATH="));
    let program = pexec::lookup(req.args.first().map(String::as_str).unwrap_or(""), path_env)
        .map_err(Failure::Exec)?;
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    Err(Failure::Exec(pexec::execve(&program, &req.args, &env)))
}

/// The container's environment with `-e` entries replacing same-named ones.
fn merged_env(mut env: Vec<String>, extra: &[String], tty: bool) -> Vec<String> {
    let mut extra = extra.to_vec();
    if tty && !env.iter().chain(&extra).any(|e| e.starts_with("TERM=")) {
        extra.push("TERM=xterm".into());
    }
    for e in extra {
        let key = e.split('=').next().unwrap_or("").to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    env
}

/// Forwards signals (and with a pty, the terminal) until the child ends.
fn supervise(child: Pid, master: Option<OwnedFd>) -> u8 {
    let Ok(sfd) = SignalFd::with_flags(&forwarded_mask(), SfdFlags::SFD_CLOEXEC) else {
        return 126;
    };
    let stdin = std::io::stdin();
    // The pty got the caller's size before the fork.
    let _raw = master.as_ref().and_then(|_| RawMode::enter(stdin.as_fd()));
    let mut relay = Relay {
        master,
        stdin_open: true,
    };
    loop {
        if let Some(code) = relay.step(&sfd, child) {
            relay.drain();
            return code;
        }
    }
}

struct Relay {
    master: Option<OwnedFd>,
    stdin_open: bool,
}

impl Relay {
    fn step(&mut self, sfd: &SignalFd, child: Pid) -> Option<u8> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &self.master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if self.stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            return None;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready.get(1) == Some(&true) {
            self.copy(true);
        }
        if ready.get(2) == Some(&true) {
            self.copy(false);
        }
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                match (sig, &self.master) {
                    (Signal::SIGCHLD, _) => match waitpid(child, None) {
                        Ok(WaitStatus::Exited(_, c)) => return Some(c as u8),
                        Ok(WaitStatus::Signaled(_, s, _)) => return Some(128 + s as u8),
                        _ => {}
                    },
                    (Signal::SIGWINCH, Some(m)) => copy_size(std::io::stdin().as_fd(), m),
                    _ => {
                        let _ = kill(child, sig);
                    }
                }
            }
        }
        None
    }

    /// One read from the pty to stdout (`out`) or stdin to the pty.
    fn copy(&mut self, out: bool) {
        let Some(m) = &self.master else { return };
        let mut buf = [0u8; 8192];
        let (from, to) = if out {
            (m.as_raw_fd(), libc::STDOUT_FILENO)
        } else {
            (libc::STDIN_FILENO, m.as_raw_fd())
        };
        // SAFETY: plain reads and writes on open descriptors.
        let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            if out {
                self.master = None;
            } else {
                self.stdin_open = false;
            }
            return;
        }
        let mut done = 0;
        while done < n as usize {
            let w = unsafe { libc::write(to, buf[done..].as_ptr().cast(), n as usize - done) };
            if w <= 0 {
                break;
            }
            done += w as usize;
        }
    }

    fn drain(&mut self) {
        let Some(m) = &self.master else { return };
        let _ = nix::fcntl::fcntl(
            m.as_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        while self.master.is_some() {
            self.copy(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{Call, Recording};

    fn namespaces(flags: &[CloneFlags]) -> Vec<(OwnedFd, CloneFlags)> {
        let fd = || std::fs::File::open("/dev/null").unwrap().into();
        flags.iter().map(|f| (fd(), *f)).collect()
    }

    #[test]
    fn namespaces_are_entered_in_order_and_a_refusal_is_named_as_before() {
        let order = [
            CloneFlags::CLONE_NEWNET,
            CloneFlags::CLONE_NEWPID,
            CloneFlags::CLONE_NEWNS,
        ];
        let sys = Recording::new();
        enter(&sys, &namespaces(&order)).unwrap();
        let entered: Vec<Call> = order.iter().map(|f| Call::Setns(*f)).collect();
        assert_eq!(sys.calls(), entered);

        let sys = Recording::new().failing(1, libc::EPERM);
        let e = enter(&sys, &namespaces(&order)).unwrap_err();
        let flag = CloneFlags::CLONE_NEWPID;
        assert_eq!(
            e,
            format!("joining {flag:?}: EPERM: Operation not permitted")
        );
        assert_eq!(sys.calls().len(), 2, "none after the refusal");
    }

    #[test]
    fn exec_env_overrides_the_containers() {
        let env = merged_env(
            vec!["PATH=/bin".into(), "A=1".into()],
            &["A=2".into()],
            true,
        );
        assert_eq!(env, ["PATH=/bin", "A=2", "TERM=xterm"]);
    }
}
