//! A container's filesystem as one tar stream (`export`): its image's
//! layers under its changes, without its volumes, binds, `/proc` or
//! `/sys`, as Docker exports the container's root filesystem rather than
//! what its processes see.

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use kiln_cache::layer::{self, DiffOptions};
use kiln_runtime::container::filesystem;
use kiln_runtime::container::state::Container;
use kiln_runtime::Rootfs;

use super::copy::running_pid;
use crate::{Engine, Error};

impl Engine {
    /// Writes the container's files to `out` as a tar; gives `out` back.
    pub fn export<W: Write>(&self, key: &str, out: W) -> Result<W, Error> {
        let c = self.container(key)?;
        let scratch = Scratch::new(&c)?;
        let root = open_root(&c, scratch.as_ref())?;
        // The mount is detached: only its descriptor reaches it.
        let path = PathBuf::from(format!("/proc/self/fd/{}", root.as_raw_fd()));
        let (out, _) = layer::diff(&path, out, &DiffOptions::default()).map_err(Error::Export)?;
        Ok(out)
    }
}

/// The container's root as a directory descriptor. A stopped container's
/// overlay is mounted as `cp` mounts it. A running one's upper and work
/// directories belong to its live mount, and a second mount on them is
/// refused or would clear the work directory under it; so its upper is
/// stacked read-only over its layers, with an empty upper of our own.
fn open_root(c: &Container, scratch: Option<&Scratch>) -> Result<OwnedFd, Error> {
    let rootfs = match (&c.record.rootfs, scratch) {
        (Rootfs::Overlay { lowers, upper, .. }, Some(s)) => Rootfs::Overlay {
            lowers: std::iter::once(upper.clone())
                .chain(lowers.iter().cloned())
                .collect(),
            upper: s.upper(),
            work: s.work(),
            volatile: false,
        },
        (rootfs, _) => rootfs.clone(),
    };
    Ok(filesystem::open(&rootfs, None)?)
}

/// The throwaway upper and work directories of a running container's
/// export, beside its own (overlayfs wants upper and work on one
/// filesystem), removed when the export ends.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Only for a running container made from an image.
    fn new(c: &Container) -> Result<Option<Scratch>, Error> {
        if running_pid(c).is_none() || !matches!(c.record.rootfs, Rootfs::Overlay { .. }) {
            return Ok(None);
        }
        let dir = c.dir.join(format!("export.{}", std::process::id()));
        let scratch = Scratch { dir };
        for d in [scratch.upper(), scratch.work()] {
            fs::create_dir_all(&d).map_err(|source| Error::CreateDir { path: d, source })?;
        }
        Ok(Some(scratch))
    }

    fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
