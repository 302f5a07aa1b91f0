//! Outbound traffic for `--network private` and user networks:
//! slirp4netns (Debian's package) attached to the container's namespace.
//! It is a user-mode TCP/IP stack, so the host's firewall and routes are
//! never touched; `--disable-host-loopback` keeps the container off the
//! host's 127.0.0.1, as Docker's bridge does, unless a user network was
//! created with `allow_host_loopback=true` (podman's slirp4netns option of
//! that name): then 10.0.2.2 is the host's loopback. Its tap device is
//! made persistent beforehand (`tap.rs`), so stopping it is quick;
//! it is stopped when its [`Slirp`] is dropped, and exits by itself when
//! its exit pipe closes (whoever held the [`Slirp`] died), so it never
//! outlives the container's monitor.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The program; absent means `private` has no outbound traffic.
pub const PROGRAM: &str = "slirp4netns";

/// The device slirp4netns attaches to in the container.
const TAP: &str = "tap0";

/// The running stack of one container; stops when dropped.
pub struct Slirp {
    child: Child,
    exit: Option<OwnedFd>,
}

/// Starts slirp4netns on `pid`'s network namespace (tap0 10.0.2.100,
/// gateway 10.0.2.2, DNS 10.0.2.3) and waits until it is configured.
/// `Ok(None)` when slirp4netns is not installed.
pub fn start(pid: u32, host_loopback: bool) -> io::Result<Option<Slirp>> {
    // Looked up first: without the program, no device is left behind.
    let Some(program) = find_program(std::env::var_os("PATH")) else {
        return Ok(None);
    };
    super::tap::make_persistent(pid, TAP)
        .map_err(|e| io::Error::new(e.kind(), format!("making {TAP}: {e}")))?;
    // slirp4netns cannot attach to the device while another process holds
    // it open: a sibling's fork between our open of /dev/net/tun and its
    // exec (the fd is close-on-exec, not close-on-fork) can, briefly. It
    // then exits without configuring, and a later attempt succeeds.
    let mut pause = std::time::Duration::from_millis(5);
    for _ in 0..ATTEMPTS - 1 {
        match launch(&program, pid, host_loopback) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(pause);
                pause *= 2;
            }
            other => return other.map(Some),
        }
    }
    launch(&program, pid, host_loopback).map(Some)
}

/// How often [`start`] tries slirp4netns before it reports its failure.
const ATTEMPTS: usize = 6;

/// One slirp4netns on `pid`'s tap device, configured; a stack that exited
/// without configuring is a `ConnectionRefused` error.
fn launch(program: &std::path::Path, pid: u32, host_loopback: bool) -> io::Result<Slirp> {
    let (ready_r, ready_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let (exit_r, exit_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let (rw, er) = (ready_w.as_raw_fd(), exit_r.as_raw_fd());
    let mut cmd = Command::new(program);
    cmd.args(["--configure", "--mtu=65520"]);
    if !host_loopback {
        cmd.arg("--disable-host-loopback");
    }
    cmd.args(["--ready-fd=3", "--exit-fd=4"])
        .arg(pid.to_string())
        .arg(TAP)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: fcntl, dup2 and close only; the fds are open in the parent
    // until spawn returns.
    unsafe { cmd.pre_exec(move || onto_3_and_4(rw, er)) };
    let child = cmd.spawn()?;
    drop((ready_w, exit_r));
    let mut slirp = Slirp {
        child,
        exit: Some(exit_w),
    };
    wait_ready(ready_r)?;
    slirp.child.try_wait()?.map_or(Ok(()), |s| {
        Err(io::Error::other(format!("slirp4netns exited: {s}")))
    })?;
    Ok(slirp)
}

/// In the child before exec: `ready` becomes fd 3 and `exit` fd 4, both
/// kept across the exec. Each is first copied above them: a pipe end that
/// already is fd 3 or 4 (the lowest free numbers, in a process that just
/// closed others) would be overwritten by the other's dup2, or stay
/// close-on-exec, as dup2 onto itself changes nothing; slirp4netns then
/// found no ready fd and the network "failed to configure".
fn onto_3_and_4(ready: i32, exit: i32) -> io::Result<()> {
    // SAFETY: descriptor calls only, async-signal-safe.
    unsafe {
        let r = libc::fcntl(ready, libc::F_DUPFD_CLOEXEC, 10);
        let e = libc::fcntl(exit, libc::F_DUPFD_CLOEXEC, 10);
        if r < 0 || e < 0 || libc::dup2(r, 3) < 0 || libc::dup2(e, 4) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// [`start`] where outbound traffic is promised (`private`, and RUN steps
/// of a build): a missing slirp4netns is an error naming the package, not
/// a namespace that silently has only `lo`.
pub fn require(pid: u32, host_loopback: bool) -> io::Result<Slirp> {
    start(pid, host_loopback)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{PROGRAM} not found: a private network's outbound traffic needs Debian's \
                 {PROGRAM} package (apt-get install {PROGRAM}); --network none runs without it"
            ),
        )
    })
}

/// `PROGRAM` in the first directory of `path` that has it, as execvp
/// would find it (without a PATH, in glibc's default `/bin:/usr/bin`).
fn find_program(path: Option<std::ffi::OsString>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = path.unwrap_or_else(|| "/bin:/usr/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(PROGRAM))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn wait_ready(fd: OwnedFd) -> io::Result<()> {
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(&fd),
        PollFlags::POLLIN,
    )];
    let n = poll(&mut fds, PollTimeout::from(5000u16)).map_err(io::Error::from)?;
    if n == 0 {
        return Err(io::Error::other("slirp4netns did not get ready in 5 s"));
    }
    let mut byte = [0u8; 1];
    let got = std::fs::File::from(fd).read(&mut byte)?;
    if got == 0 {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "slirp4netns failed to configure the network",
        ));
    }
    Ok(())
}

impl Slirp {
    /// The slirp4netns process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Slirp {
    fn drop(&mut self) {
        // Killed rather than asked through the exit pipe: it keeps nothing
        // worth a clean exit, and the wait is then bounded without a
        // timeout. With the tap persistent, its exit takes about 0.3 ms.
        self.exit.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `sh` with the ready pipe's write end put on fd `at.0` and the
    /// exit pipe's read end on `at.1` (close-on-exec, as pipe2 makes them)
    /// before `onto_3_and_4` moves them: sh must find them on 3 and 4.
    fn handed_over(at: (i32, i32)) {
        use std::io::Write;
        let flags = nix::fcntl::OFlag::O_CLOEXEC;
        let (ready_r, ready_w) = nix::unistd::pipe2(flags).unwrap();
        let (exit_r, exit_w) = nix::unistd::pipe2(flags).unwrap();
        let (rw, er) = (ready_w.as_raw_fd(), exit_r.as_raw_fd());
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo ready >&3; exec 3>&-; exec cat <&4"])
            .stdout(Stdio::piped());
        // SAFETY: descriptor calls only, in the child.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::fcntl(rw, libc::F_DUPFD_CLOEXEC, 20);
                let e = libc::fcntl(er, libc::F_DUPFD_CLOEXEC, 20);
                if libc::dup3(r, at.0, libc::O_CLOEXEC) < 0
                    || libc::dup3(e, at.1, libc::O_CLOEXEC) < 0
                {
                    return Err(io::Error::last_os_error());
                }
                onto_3_and_4(at.0, at.1)
            });
        }
        let child = cmd.spawn().unwrap();
        drop((ready_w, exit_r));
        let mut ready = String::new();
        std::fs::File::from(ready_r)
            .read_to_string(&mut ready)
            .unwrap();
        assert_eq!(ready, "ready\n", "ready fd at {at:?}");
        let mut exit = std::fs::File::from(exit_w);
        exit.write_all(b"bye").unwrap();
        drop(exit);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.stdout, b"bye", "exit fd at {at:?}");
    }

    #[test]
    fn pipe_ends_already_on_3_or_4_still_reach_them() {
        handed_over((3, 4));
        handed_over((4, 3));
        handed_over((7, 8));
    }
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_program_is_found_as_execvp_finds_it() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let plain = a.path().join(PROGRAM);
        std::fs::write(&plain, "").unwrap();
        let runnable = b.path().join(PROGRAM);
        std::fs::write(&runnable, "").unwrap();
        std::fs::set_permissions(&runnable, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(find_program(Some(path)), Some(runnable));
        let path = std::env::join_paths([a.path()]).unwrap();
        assert_eq!(find_program(Some(path)), None, "not executable");
        let default = ["/bin", "/usr/bin"].map(|d| std::path::Path::new(d).join(PROGRAM));
        assert_eq!(
            find_program(None),
            default.into_iter().find(|p| p.is_file())
        );
    }

    /// A process in a network namespace of its own, and its pid once it
    /// stands there.
    fn namespace_holder() -> std::process::Child {
        let holder = Command::new("unshare")
            .args(["-n", "sleep", "30"])
            .spawn()
            .unwrap();
        let ns = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while ns(holder.id()) == ns(std::process::id()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        holder
    }

    #[test]
    fn stopping_the_stack_leaves_no_process() {
        if !crate::testkit::privileged() {
            return;
        }
        let mut holder = namespace_holder();
        let slirp = require(holder.id(), false).unwrap();
        let pid = slirp.pid();
        let addr = Command::new("nsenter")
            .args([
                "-t",
                &holder.id().to_string(),
                "-n",
                "ip",
                "-o",
                "-4",
                "addr",
            ])
            .output()
            .unwrap();
        drop(slirp);
        // Reaped, not just killed: no zombie is left either.
        let gone = !std::path::Path::new(&format!("/proc/{pid}")).exists();
        let _ = holder.kill();
        let _ = holder.wait();
        let addr = String::from_utf8_lossy(&addr.stdout);
        assert!(
            addr.contains("tap0") && addr.contains("10.0.2.100"),
            "{addr}"
        );
        assert!(gone, "slirp4netns {pid} is still there");
    }

    #[test]
    fn the_stack_stops_by_itself_when_its_holder_is_gone() {
        if !crate::testkit::privileged() {
            return;
        }
        let mut holder = namespace_holder();
        let mut slirp = require(holder.id(), false).unwrap();
        // What a killed monitor leaves: the exit pipe closed, nobody to
        // kill the stack.
        slirp.exit.take();
        let status = slirp.child.wait().unwrap();
        let _ = holder.kill();
        let _ = holder.wait();
        assert!(status.success(), "{status}");
    }
}
