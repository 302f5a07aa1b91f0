//! Copying between a container and the host (`cp`), in any state, as
//! Docker allows. A running container's root shows its volumes; a stopped
//! one's files are its layers under its upper directory (mounted detached,
//! seen by no other process), and under a volume's destination, that
//! volume's.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use kiln_runtime::container::state::{Container, Status};
use kiln_runtime::container::{copy, filesystem};

use crate::{Engine, Error};

impl Engine {
    /// Copies `inside` (a path in the container) to `host`: into it when
    /// it is a directory, else as it.
    pub fn copy_out(&self, key: &str, inside: &str, host: &Path) -> Result<(), Error> {
        let c = self.container(key)?;
        let (root, inside) = open(&c, inside, false)?;
        Ok(copy::copy_out(root.as_fd(), &inside, host)?)
    }

    /// Copies the host path `host` to `inside`: into it when it is a
    /// directory in the container, else as it.
    pub fn copy_in(&self, key: &str, host: &Path, inside: &str) -> Result<(), Error> {
        let c = self.container(key)?;
        let (root, inside) = open(&c, inside, true)?;
        Ok(copy::copy_in(root.as_fd(), host, &inside)?)
    }
}

/// Whether the container's own root is there to be read (`/proc/PID/root`).
pub(super) fn running_pid(c: &Container) -> Option<i32> {
    let live = matches!(c.state.status, Status::Running | Status::Paused);
    (live && c.state.pid > 0).then_some(c.state.pid)
}

/// The directory to copy from or into (`write`), and `inside` relative
/// to it.
fn open(c: &Container, inside: &str, write: bool) -> Result<(OwnedFd, PathBuf), Error> {
    let inside = Path::new("/").join(inside.trim_start_matches('/'));
    let pid = running_pid(c);
    let mount = pid
        .is_none()
        .then(|| filesystem::in_mount(&c.record.mounts, &inside))
        .flatten();
    Ok(match mount {
        Some((m, rest)) => filesystem::open_mount(m, rest, write)?,
        None => (filesystem::open(&c.record.rootfs, pid)?, inside),
    })
}
