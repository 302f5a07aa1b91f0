//! The caller's terminal during `-t`: raw mode for as long as a guard
//! lives (restored on every return and unwind), and window-size copying.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

pub use crate::process::pty::set_size;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

/// Puts a terminal in raw mode; restores the saved mode when dropped.
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    /// `None` when `fd` is not a terminal.
    pub fn enter(fd: BorrowedFd<'a>) -> Option<RawMode<'a>> {
        let saved = tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd, SetArg::TCSAFLUSH, &self.saved);
    }
}

/// Copies the window size of terminal `from` to pty `to`.
pub fn copy_size(from: impl AsFd, to: impl AsFd) {
    if let Some((rows, cols)) = size(from) {
        let _ = set_size(to, rows, cols);
    }
}

/// The caller's terminal size: stdin's, or stdout's when stdin is not one.
pub fn caller_size() -> Option<(u16, u16)> {
    size(std::io::stdin().as_fd()).or_else(|| size(std::io::stdout().as_fd()))
}

/// The terminal's (rows, columns); `None` when `fd` is not a terminal.
pub fn size(fd: impl AsFd) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data filled by TIOCGWINSZ.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some((ws.ws_row, ws.ws_col))
}
