//! Outbound traffic for `--network private` and user networks:
//! slirp4netns (Debian's package) attached to the container's namespace.
//! It is a user-mode TCP/IP stack, so the host's firewall and routes are
//! never touched; `--disable-host-loopback` keeps the container off the
//! host's 127.0.0.1, as Docker's bridge does, unless a user network was
//! created with `allow_host_loopback=true` (podman's slirp4netns option of
//! that name): then 10.0.2.2 is the host's loopback. It exits when the
//! monitor closes its exit pipe, so it never outlives the container's
//! monitor.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The program; absent means `private` has no outbound traffic.
pub const PROGRAM: &str = "slirp4netns";

/// The running stack of one container; stops when dropped.
pub struct Slirp {
    child: Child,
    exit: Option<OwnedFd>,
}

/// Starts slirp4netns on `pid`'s network namespace (tap0 10.0.2.100,
/// gateway 10.0.2.2, DNS 10.0.2.3) and waits until it is configured.
/// `Ok(None)` when slirp4netns is not installed.
pub fn start(pid: u32, host_loopback: bool) -> io::Result<Option<Slirp>> {
    let (ready_r, ready_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let (exit_r, exit_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let (rw, er) = (ready_w.as_raw_fd(), exit_r.as_raw_fd());
    let mut cmd = Command::new(PROGRAM);
    cmd.args(["--configure", "--mtu=65520"]);
    if !host_loopback {
        cmd.arg("--disable-host-loopback");
    }
    cmd.args(["--ready-fd=3", "--exit-fd=4"])
        .arg(pid.to_string())
        .arg("tap0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: dup2 only; the fds are open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(rw, 3) < 0 || libc::dup2(er, 4) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    drop((ready_w, exit_r));
    let mut slirp = Slirp {
        child,
        exit: Some(exit_w),
    };
    wait_ready(ready_r)?;
    slirp.child.try_wait()?.map_or(Ok(()), |s| {
        Err(io::Error::other(format!("slirp4netns exited: {s}")))
    })?;
    Ok(Some(slirp))
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
        return Err(io::Error::other(
            "slirp4netns failed to configure the network",
        ));
    }
    Ok(())
}

impl Drop for Slirp {
    fn drop(&mut self) {
        self.exit.take();
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
