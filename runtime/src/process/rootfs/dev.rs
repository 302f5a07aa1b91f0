//! `/dev` on a tmpfs: Docker's standard device nodes and links.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

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
        let made = match sys.mknod(&path, device) {
            // In a user namespace (rootless) no device node can be made:
            // the host's own is bound in its place, as podman does.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => bind_host_device(sys, name, &path),
            other => ignore_exists(other).map_err(|e| ("mknod", path.clone(), e)),
        };
        made.map_err(|(op, path, source)| Error::Fs { op, path, source })?;
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

/// Binds the host's `/dev/NAME` onto an empty file at `path`.
fn bind_host_device<S: Syscalls>(
    sys: &S,
    name: &str,
    path: &Path,
) -> std::result::Result<(), (&'static str, PathBuf, std::io::Error)> {
    let host = Path::new("/dev").join(name);
    sys.touch(path)
        .map_err(|e| ("touch", path.to_path_buf(), e))?;
    sys.mount(Some(&host), path, None, MsFlags::MS_BIND, None)
        .map_err(|e| ("bind", path.to_path_buf(), e))
}

/// The spec's own devices (`--device`), made in the container's /dev
/// tmpfs beside Docker's standard ones. Their paths were checked to lie
/// under /dev when the spec was made; one that does not is skipped, so a
/// spec from elsewhere cannot make a node outside it.
pub(super) fn populate_spec_devices<S: Syscalls>(sys: &S, root: &Path, spec: &Spec) -> Result<()> {
    let devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for d in devices.into_iter().flatten() {
        let Ok(rel) = d.path().strip_prefix("/dev") else {
            continue;
        };
        if rel.as_os_str().is_empty()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            continue;
        }
        let path = root.join("dev").join(rel);
        if let Some(parent) = path.parent() {
            sys.mkdir_all(parent, 0o755).map_err(|source| Error::Fs {
                op: "mkdir",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let device = Device {
            major: u64::try_from(d.major()).unwrap_or(0),
            minor: u64::try_from(d.minor()).unwrap_or(0),
            mode: (d.file_mode().unwrap_or(0o666) & 0o7777) | node_type(d.typ()),
        };
        ignore_exists(sys.mknod(&path, device)).map_err(|source| Error::Fs {
            op: "mknod",
            path,
            source,
        })?;
    }
    Ok(())
}

/// The file type bits [`Device::mode`] carries for a spec device.
fn node_type(typ: oci_spec::runtime::LinuxDeviceType) -> u32 {
    match typ {
        oci_spec::runtime::LinuxDeviceType::B => libc::S_IFBLK,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{Call, Recording};

    #[test]
    fn a_refused_device_node_is_the_hosts_bound_in() {
        // The first mknod (/dev/null) is refused, as in a user namespace.
        let sys = Recording::new().failing(0, libc::EPERM);
        populate_dev(&sys, Path::new("/r")).unwrap();
        let calls = sys.calls();
        assert_eq!(calls[1], Call::Touch("/r/dev/null".into()));
        assert!(
            matches!(&calls[2], Call::Mount { source: Some(s), target, flags, .. }
            if s == Path::new("/dev/null") && target == Path::new("/r/dev/null")
                && *flags == MsFlags::MS_BIND)
        );
        // The others are made as nodes.
        assert!(matches!(&calls[3], Call::Mknod(p, _) if p == Path::new("/r/dev/zero")));
    }
}
