//! The init helper: a single-threaded process, so forking it is safe:
//! kiln re-executed as `kiln __kiln-init`, or kiln forked when the caller
//! was single-threaded itself (`helper_process.rs`). It creates the
//! cgroup, unshares the namespaces, forks the container's PID 1 and stays
//! outside as its monitor: it forwards signals, notices kiln's death (the
//! socket hangs up) and kills the container then, reports the exit status
//! and OOM, and removes the cgroup.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::ExitCode;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Gid, Pid, Uid};
use oci_spec::runtime::{LinuxCapabilities, Spec};

use super::protocol::{self, ExitStatus, HelperConfig, Message, HELPER_FD};
use super::rootfs::{self, Layout};
use super::{capabilities, exec, namespaces, orphans, pty, reaper, rlimits, seccomp, sysctl};
use crate::cgroups::{self, Cgroup};
use crate::spec::{GATE_ANNOTATION, REAPER_ANNOTATION};
use crate::syscalls::{as_errno, Real, Syscalls};

/// argv[1] that makes the kiln binary act as the init helper.
pub const MARKER: &str = "__kiln-init";
/// [`MARKER`] for execve.
pub const MARKER_C: &std::ffi::CStr = c"__kiln-init";

/// Signals kiln and the helper pass on to the container (Docker's
/// sig-proxy set plus SIGWINCH for terminals).
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Namespaces the container's first process creates for itself, after
/// the fork, rather than the helper before it. Only the PID namespace must
/// come first (it takes effect for children); making the others in the
/// child lets a network namespace's slow set-up overlap the helper's
/// cgroup work.
const CHILD_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWCGROUP)
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC);

/// The forwarded signals plus SIGCHLD, for blocking and signalfd.
pub fn forwarded_mask() -> SigSet {
    let mut set = SigSet::empty();
    FORWARDED.iter().for_each(|s| set.add(*s));
    set.add(Signal::SIGCHLD);
    set
}

/// The helper's `main`.
pub fn main() -> ExitCode {
    ExitCode::from(run())
}

/// The helper's work, with fd 3 its socket to kiln; returns the exit code.
pub(crate) fn run() -> u8 {
    // SAFETY: fd 3 was placed by kiln for us; nothing else owns it.
    let sock = unsafe { BorrowedFd::borrow_raw(HELPER_FD) };
    let _ = nix::fcntl::fcntl(
        sock,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let config = match protocol::recv(sock) {
        Ok(Some((Message::Config(c), _))) => c,
        _ => return 2,
    };
    match monitor(sock, &config) {
        Ok(()) => 0,
        Err(e) => {
            let _ = protocol::send(sock, &Message::Setup(e), None);
            1
        }
    }
}

/// The container's cgroup, named but not yet made.
fn cgroup_of(spec: &Spec) -> Result<Option<Box<dyn Cgroup>>, String> {
    let Some(path) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
    else {
        return Ok(None);
    };
    cgroups::open(path).map(Some).map_err(|e| e.to_string())
}

/// Makes the cgroup and writes its limits; removes it again on failure.
fn make_cgroup(cg: &dyn Cgroup, spec: &Spec) -> Result<(), String> {
    let result = cg.create().and_then(|()| {
        match spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
            Some(res) => cg.apply(res),
            None => Ok(()),
        }
    });
    result.map_err(|e| {
        let _ = cg.remove();
        e.to_string()
    })
}

fn monitor(sock: BorrowedFd, config: &HelperConfig) -> Result<(), String> {
    // Its own session: a terminal's Ctrl-C reaches kiln only, which forwards it once.
    let _ = nix::unistd::setsid();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded_mask()), None).map_err(|e| e.to_string())?;
    let sfd = SignalFd::with_flags(
        &forwarded_mask(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(|e| e.to_string())?;
    let flags = namespaces::clone_flags(&config.spec).map_err(|e| e.to_string())?;
    let cgroup = cgroup_of(&config.spec)?;
    let (ready_r, ready_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    // The mount namespace is the child's alone: pivot_root moves the root
    // of every process in the namespace, and the helper must keep the
    // host's view to remove the cgroup and read its OOM count afterwards.
    // So is the cgroup namespace, rooted where the child stands when it
    // unshares it: inside the container's cgroup. The network, UTS and IPC
    // namespaces are the child's too (see CHILD_NAMESPACES): who needs the
    // container's network namespace finds it through the child's pid.
    Real.unshare(flags - CHILD_NAMESPACES)
        .map_err(|e| format!("unshare: {}", as_errno(&e)))?;
    let own_pids = flags.contains(CloneFlags::CLONE_NEWPID);
    if !own_pids {
        orphans::adopt()?;
    }
    // SAFETY: this process is single-threaded (a fresh exec).
    let child = match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(ready_w);
            let join = Join::new(ready_r, flags);
            container(sock, config, &join, flags)
        }
        ForkResult::Parent { child } => child,
    };
    drop(ready_r);
    // The cgroup is made, and the child moved into it, while the child
    // builds its filesystem (cgroup directories are slow to make); the
    // child waits for the word when it needs to be in it.
    if let Some(cg) = &cgroup {
        let made = make_cgroup(cg.as_ref(), &config.spec).and_then(|()| {
            cg.join(child.as_raw())
                .map_err(|e| format!("moving the container into its cgroup: {e}"))
        });
        if let Err(e) = made {
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            return Err(e);
        }
    }
    let _ = nix::unistd::write(&ready_w, &[1]);
    drop(ready_w);
    let status = supervise(sock, sfd, child);
    if !own_pids {
        orphans::kill_all();
    }
    let oom_killed = cgroup.as_ref().is_some_and(|c| c.oom_killed());
    if let Some(cg) = &cgroup {
        let _ = cg.remove();
    }
    let _ = protocol::send(sock, &Message::Exited { status, oom_killed }, None);
    Ok(())
}

/// The child's side of its cgroup: the helper's word that it made the
/// cgroup and moved the child in; then its own cgroup namespace, if
/// asked.
pub(crate) struct Join {
    ready: OwnedFd,
    cgroupns: bool,
    done: std::cell::Cell<bool>,
}

impl Join {
    fn new(ready: OwnedFd, flags: CloneFlags) -> Join {
        Join {
            ready,
            cgroupns: flags.contains(CloneFlags::CLONE_NEWCGROUP),
            done: std::cell::Cell::new(false),
        }
    }

    /// Waits for the helper's word; later calls do nothing.
    pub(crate) fn join(&self) -> Result<(), String> {
        if self.done.replace(true) {
            return Ok(());
        }
        let mut byte = [0u8; 1];
        match nix::unistd::read(&self.ready, &mut byte) {
            Ok(1) => {}
            _ => return Err("the helper could not make the cgroup".into()),
        }
        if self.cgroupns {
            Real.unshare(CloneFlags::CLONE_NEWCGROUP)
                .map_err(|e| format!("unshare: {}", as_errno(&e)))?;
        }
        Ok(())
    }
}

/// Waits for the container, forwarding signals; kills it if kiln goes away.
fn supervise(sock: BorrowedFd, sfd: SignalFd, child: Pid) -> ExitStatus {
    let mut watch_parent = true;
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if watch_parent {
            // No events asked: POLLHUP (the peer's end closed) is always
            // reported. Never POLLIN: messages on this socket are the
            // container's (its start gate); reading or waking on them here
            // would steal them or spin.
            fds.push(PollFd::new(sock, PollFlags::empty()));
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let parent_gone = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR));
        if parent_gone {
            watch_parent = false;
            let _ = kill(child, Signal::SIGKILL);
        }
        // The signalfd is non-blocking: a wakeup for the socket alone must
        // not park the helper where it no longer sees its parent go.
        while let Ok(Some(info)) = sfd.read_signal() {
            if let Some(status) = on_signal(info.ssi_signo as i32, child) {
                return status;
            }
        }
    }
}

/// Reaps the container on SIGCHLD; forwards any other signal to it.
fn on_signal(signo: i32, child: Pid) -> Option<ExitStatus> {
    if signo == Signal::SIGCHLD as i32 {
        // Orphans adopted without a PID namespace are reaped as they end.
        return reaper::reap_finished(child);
    }
    if let Ok(sig) = Signal::try_from(signo) {
        let _ = kill(child, sig);
    }
    None
}

/// The container's PID 1 after fork: never returns.
fn container(sock: BorrowedFd, config: &HelperConfig, join: &Join, flags: CloneFlags) -> ! {
    let code = match setup_and_exec(sock, config, join, flags) {
        Ok(never) => match never {},
        Err(Failure::Exec(e)) => {
            let code = e.exit_code();
            let _ = protocol::send(sock, &Message::Exec(e), None);
            code
        }
        Err(Failure::Setup(e)) => {
            let _ = protocol::send(sock, &Message::Setup(e), None);
            1
        }
    };
    // SAFETY: ends this forked process without running the helper's atexit handlers.
    unsafe { libc::_exit(code as i32) }
}

pub(crate) enum Failure {
    Exec(exec::ExecError),
    Setup(String),
}

fn setup<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> Failure + '_ {
    move |e| Failure::Setup(format!("{what}: {e}"))
}

enum Never {}

fn setup_and_exec(
    sock: BorrowedFd,
    config: &HelperConfig,
    join: &Join,
    flags: CloneFlags,
) -> Result<Never, Failure> {
    let spec = &config.spec;
    die_with_helper()?;
    // The cgroup namespace waits until the child stands in its cgroup.
    let own = flags.intersection(CHILD_NAMESPACES - CloneFlags::CLONE_NEWCGROUP);
    if !own.is_empty() {
        Real.unshare(own)
            .map_err(|e| as_errno(&e))
            .map_err(setup("unshare"))?;
    }
    if flags.contains(CloneFlags::CLONE_NEWNET) {
        namespaces::loopback_up().map_err(setup("network"))?;
    }
    // Through the host's /proc while it is still there: /proc/sys/net and
    // the IPC keys answer for the namespaces of the process writing.
    if let Some(sysctls) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        sysctl::apply(sysctls).map_err(Failure::Setup)?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let layout = Layout {
        staging: &config.staging,
        rootfs: &config.rootfs,
        spec,
        etc: &config.etc,
        join: &|| join.join(),
    };
    let stubs = rootfs::setup(&Real, &layout).map_err(setup("rootfs"))?;
    // A spec without a cgroup mount still runs in its cgroup.
    join.join().map_err(Failure::Setup)?;
    // Stubs in a plain directory stay, as runc leaves them: another
    // container may run from the same directory, and unlinking a file that
    // is a mount point elsewhere detaches that container's mount.
    let private = matches!(config.rootfs, rootfs::Rootfs::Overlay { .. });
    if private && !stubs.is_empty() {
        let host: Vec<_> = stubs
            .iter()
            .map(|s| rootfs::host_path(&config.rootfs, s))
            .collect();
        let _ = protocol::send(sock, &Message::Stubs(host), None);
    }
    if flags.contains(CloneFlags::CLONE_NEWUTS) {
        if let Some(h) = spec.hostname() {
            Real.sethostname(h)
                .map_err(|e| as_errno(&e))
                .map_err(setup("sethostname"))?;
        }
    }
    stdio(sock, config)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Failure::Setup("the spec has no process".into()))?;
    enter_cwd(process.cwd())?;
    // Before the capabilities go: raising a hard limit needs CAP_SYS_RESOURCE.
    if let Some(rlimits) = process.rlimits() {
        rlimits::apply(rlimits).map_err(Failure::Setup)?;
    }
    let caps = process.capabilities().clone().unwrap_or_default();
    let nnp = process.no_new_privileges().unwrap_or(false);
    let filters = seccomp::programs(&config.seccomp);
    if nnp {
        set_no_new_privs()?;
    }
    capabilities::limit_bounding(&caps).map_err(setup("capabilities"))?;
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, so it
    // goes in before the user switch drops it (as runc does); the
    // profile must then allow the few calls that remain (Docker's does).
    if !nnp {
        seccomp::apply(&filters).map_err(setup("seccomp"))?;
    }
    switch_user(process.user(), &caps)?;
    if nnp {
        seccomp::apply(&filters).map_err(setup("seccomp"))?;
    }
    exec_command(sock, spec)
}

/// Holds the command until the caller has wired the network namespace.
/// The gate opens only once the filesystem is built: wiring it while this
/// process still built it (to overlap slirp4netns's start) lost races
/// under load, a setup failure here taking the namespace, and so the
/// network, with it and being reported as slirp4netns's.
fn await_go(sock: BorrowedFd) -> Result<(), Failure> {
    protocol::send(sock, &Message::Gate, None).map_err(setup("gate"))?;
    match protocol::recv(sock) {
        Ok(Some((Message::Go, _))) => Ok(()),
        Ok(_) => Err(Failure::Setup(
            "the caller went away before the start".into(),
        )),
        Err(e) => Err(Failure::Setup(format!("gate: {e}"))),
    }
}

fn annotated(spec: &Spec, key: &str) -> bool {
    spec.annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(key))
}

/// SIGKILL when the helper dies; re-armed after setuid, which clears it.
fn die_with_helper() -> Result<(), Failure> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        return Err(Failure::Setup("prctl(PR_SET_PDEATHSIG) failed".into()));
    }
    Ok(())
}

pub(crate) fn set_no_new_privs() -> Result<(), Failure> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Failure::Setup("prctl(PR_SET_NO_NEW_PRIVS) failed".into()));
    }
    Ok(())
}

fn stdio(sock: BorrowedFd, config: &HelperConfig) -> Result<(), Failure> {
    if !config.pty {
        // A session of its own keeps the container out of kiln's process group.
        let _ = nix::unistd::setsid();
        return Ok(());
    }
    let pair = pty::open(&Real).map_err(setup("pty"))?;
    // The command must never see a 0x0 terminal before kiln copies the
    // caller's size.
    let size = config
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.console_size());
    if let Some(size) = size {
        let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
        pty::set_size(&pair.master, clamp(size.height()), clamp(size.width()))
            .map_err(setup("pty size"))?;
    }
    protocol::send(sock, &Message::Pty, Some(pair.master.as_raw_fd()))
        .map_err(setup("sending the pty"))?;
    drop(pair.master);
    pty::attach(&pair.slave).map_err(setup("pty"))?;
    Ok(())
}

/// Docker creates a missing working directory rather than failing: root's,
/// 0755 with its parents, as runc makes it.
fn enter_cwd(cwd: &Path) -> Result<(), Failure> {
    if !cwd.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(cwd)
            .map_err(setup("creating the working directory"))?;
    }
    nix::unistd::chdir(cwd).map_err(setup("chdir"))
}

pub(crate) fn switch_user(
    user: &oci_spec::runtime::User,
    caps: &LinuxCapabilities,
) -> Result<(), Failure> {
    capabilities::keep_across_setuid(true).map_err(setup("capabilities"))?;
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    match nix::unistd::setgroups(&groups) {
        // A rootless kiln's single-ID user namespace denies setgroups,
        // and maps no group but 0 that could be held: skipped.
        Err(nix::errno::Errno::EPERM) if setgroups_denied() => {}
        other => other.map_err(setup("setgroups"))?,
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(setup("setgid"))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(setup("setuid"))?;
    capabilities::keep_across_setuid(false).map_err(setup("capabilities"))?;
    capabilities::set_process_sets(caps).map_err(setup("capabilities"))?;
    die_with_helper()
}

fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

fn exec_command(sock: BorrowedFd, spec: &Spec) -> Result<Never, Failure> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Failure::Setup("no process".into()))?;
    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    let path_env = env.iter().find_map(|e| e.strip_prefix("PATH="));
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let program = exec::lookup(args.first().map(String::as_str).unwrap_or(""), path_env)
        .map_err(Failure::Exec)?;
    if annotated(spec, GATE_ANNOTATION) {
        await_go(sock)?;
    }
    let reaper = annotated(spec, REAPER_ANNOTATION);
    if reaper {
        // SAFETY: still single-threaded.
        if let ForkResult::Parent { child } = unsafe { fork() }.map_err(setup("fork"))? {
            let _ = protocol::send(sock, &Message::Started, None);
            // SAFETY: ends PID 1 without unwinding into the helper's frames.
            unsafe { libc::_exit(reaper::reap(child)) }
        }
    } else {
        let _ = protocol::send(sock, &Message::Started, None);
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(setup("signal mask"))?;
    Err(Failure::Exec(exec::execve(&program, &args, &env)))
}
