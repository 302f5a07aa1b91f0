//! `/dev` on a tmpfs: Docker's standard device nodes and links.

use std::path::Path;

use oci_spec::runtime::Spec;

use super::{ignore_exists, Error, Result};
use crate::syscalls::{Device, Syscalls};

/// Docker's standard devices (moby `oci/devices_linux.go` defaults).
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEV_LINKS: [(&str, &str); 6] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];

pub(super) fn dev_is_tmpfs(spec: &Spec) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs"))
}

pub(super) fn populate_dev<S: Syscalls>(sys: &S, root: &Path) -> Result<()> {
    let dev = root.join("dev");
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        let device = Device {
            major,
            minor,
            mode: 0o666,
        };
        ignore_exists(sys.mknod(&path, device)).map_err(|source| Error::Fs {
            op: "mknod",
            path,
            source,
        })?;
    }
    for (name, target) in DEV_LINKS {
        let path = dev.join(name);
        ignore_exists(sys.symlink(Path::new(target), &path)).map_err(|source| Error::Fs {
            op: "symlink",
            path,
            source,
        })?;
    }
    Ok(())
}
