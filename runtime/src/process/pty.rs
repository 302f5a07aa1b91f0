//! A pty from the container's own devpts instance (as runc's console
//! socket gives), so `tty` inside names a device the container can see.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};

use crate::syscalls::Syscalls;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("allocating the container's pty: {0}")]
    Open(nix::Error),
    #[error("binding the pty to /dev/console: {0}")]
    Console(std::io::Error),
}

/// A master (sent to kiln) and the slave (the container's stdio).
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a pty pair from the container's `/dev/ptmx`, binds the slave on
/// `/dev/console`.
pub fn open<S: Syscalls>(sys: &S) -> Result<Pty, Error> {
    let master =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).map_err(Error::Open)?;
    grantpt(&master).map_err(Error::Open)?;
    unlockpt(&master).map_err(Error::Open)?;
    let name = PathBuf::from(ptsname_r(&master).map_err(Error::Open)?);
    let slave = nix::fcntl::open(
        &name,
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(Error::Open)?;
    let console = Path::new("/dev/console");
    sys.touch(console).map_err(Error::Console)?;
    sys.mount(Some(&name), console, None, MsFlags::MS_BIND, None)
        .map_err(Error::Console)?;
    let master = {
        use std::os::fd::{FromRawFd, IntoRawFd};
        // SAFETY: into_raw_fd hands over sole ownership of the descriptor.
        unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) }
    };
    Ok(Pty { master, slave })
}

/// Sets a pty's window size; the kernel then sends SIGWINCH to its
/// foreground process group.
pub fn set_size(fd: impl AsFd, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize we own.
    if unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// Makes `slave` the controlling terminal and stdio of this process, which
/// must lead a new session.
pub fn attach(slave: &OwnedFd) -> nix::Result<()> {
    nix::unistd::setsid()?;
    // SAFETY: TIOCSCTTY takes an int argument; 0 = don't steal.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(nix::Error::last());
    }
    nix::unistd::dup2_stdin(slave)?;
    nix::unistd::dup2_stdout(slave)?;
    nix::unistd::dup2_stderr(slave)
}
