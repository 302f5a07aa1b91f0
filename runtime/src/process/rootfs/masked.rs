//! After `pivot_root`: Docker's masked and read-only paths, and a
//! read-only root.

use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

use super::{mount, Result};
use crate::syscalls::{Kind, Syscalls};

/// Everything after `pivot_root`: masked and read-only paths, read-only root.
pub fn finish<S: Syscalls>(sys: &S, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask(sys, Path::new(p))?;
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        read_only(sys, Path::new(p))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(sys, None, Path::new("/"), None, flags, None)?;
    }
    Ok(())
}

/// Hides a path: a read-only empty tmpfs over a directory, /dev/null over
/// a file (Docker's masked paths).
fn mask<S: Syscalls>(sys: &S, path: &Path) -> Result<()> {
    match sys.kind(path) {
        None => Ok(()),
        Some(Kind::Dir) => {
            let src = Some(Path::new("tmpfs"));
            mount(sys, src, path, Some("tmpfs"), MsFlags::MS_RDONLY, None)
        }
        Some(_) => mount(
            sys,
            Some(Path::new("/dev/null")),
            path,
            None,
            MsFlags::MS_BIND,
            None,
        ),
    }
}

/// Binds a path onto itself and remounts it read-only; the nosuid, nodev,
/// noexec flags match /proc's, where all of Docker's read-only paths live.
fn read_only<S: Syscalls>(sys: &S, path: &Path) -> Result<()> {
    if sys.kind(path).is_none() {
        return Ok(());
    }
    mount(
        sys,
        Some(path),
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    mount(sys, None, path, None, flags, None)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::tests::spec;
    use super::*;
    use crate::syscalls::{Call, Recording};

    #[test]
    fn masked_and_read_only_paths_after_pivot() {
        let sys = Recording::new()
            .with("/proc/kcore", Kind::File)
            .with("/proc/acpi", Kind::Dir)
            .with("/proc/sys", Kind::Dir);
        finish(&sys, &spec(true)).unwrap();
        let calls = sys.calls();
        assert!(calls.contains(&Call::Mount {
            source: Some("/dev/null".into()),
            target: "/proc/kcore".into(),
            fstype: None,
            flags: MsFlags::MS_BIND,
            data: None
        }));
        assert!(calls.contains(&Call::Mount {
            source: Some("tmpfs".into()),
            target: "/proc/acpi".into(),
            fstype: Some("tmpfs".into()),
            flags: MsFlags::MS_RDONLY,
            data: None
        }));
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        assert!(calls
            .iter()
            .any(|c| matches!(c, Call::Mount { target, flags, .. }
            if target == Path::new("/proc/sys") && flags.contains(ro))));
        // absent paths (/proc/keys here) are skipped, the root goes read-only last
        assert!(!sys.mount_targets().contains(&PathBuf::from("/proc/keys")));
        assert_eq!(sys.mount_targets().last().unwrap(), Path::new("/"));
    }
}
