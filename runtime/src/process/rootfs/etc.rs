//! The generated /etc/hosts, /etc/hostname and /etc/resolv.conf, bound
//! over the image's.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

use super::resolve::secure_join;
use super::{fs, mount, EtcFiles, Result};
use crate::syscalls::{Kind, Syscalls};

/// Binds /etc/hosts, /etc/hostname and /etc/resolv.conf over the image's,
/// unless the spec mounts one itself (Docker lets user mounts win). An
/// image without /etc gets none (nothing is created in its root). Returns
/// the files it had to create as mount points, relative to `root`.
pub(super) fn bind_etc_files<S: Syscalls>(
    sys: &S,
    root: &Path,
    staging: &Path,
    files: &EtcFiles,
    spec: &Spec,
) -> Result<Vec<PathBuf>> {
    let etc = secure_join(sys, root, Path::new("/etc"))?;
    if sys.kind(&etc) != Some(Kind::Dir) {
        return Ok(Vec::new());
    }
    let entries = [
        ("hosts", &files.hosts),
        ("hostname", &files.hostname),
        ("resolv.conf", &files.resolv_conf),
    ];
    let mut stubs = Vec::new();
    for (name, text) in entries {
        let dest = Path::new("/etc").join(name);
        let mounted = spec
            .mounts()
            .iter()
            .flatten()
            .any(|m| m.destination() == &dest);
        if mounted {
            continue;
        }
        let src = staging.join(name);
        fs("write", &src, sys.write_file(&src, text.as_bytes()))?;
        let target = secure_join(sys, root, &dest)?;
        if sys.kind(&target).is_none() {
            fs("create", &target, sys.touch(&target))?;
            if let Ok(rel) = target.strip_prefix(root) {
                stubs.push(rel.to_path_buf());
            }
        }
        mount(sys, Some(&src), &target, None, MsFlags::MS_BIND, None)?;
    }
    Ok(stubs)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::tests::{host, layout_with, spec};
    use super::super::{host_path, prepare, EtcFiles, Rootfs};
    use crate::syscalls::Kind;

    #[test]
    fn existing_etc_files_are_not_stubs() {
        let sys = host()
            .with("/run/kiln/rootfs/root/etc", Kind::Dir)
            .with("/run/kiln/rootfs/root/etc/hosts", Kind::File);
        let rootfs = Rootfs::Dir("/images/bb".into());
        let spec = spec(false);
        let etc = EtcFiles::default();
        let (_, stubs) = prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap();
        assert!(!stubs.contains(&PathBuf::from("etc/hosts")));
        assert_eq!(stubs.len(), 2);
        let upper = Rootfs::Overlay {
            lowers: vec!["/l".into()],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            volatile: false,
        };
        assert_eq!(
            host_path(&upper, Path::new("etc/hostname")),
            Path::new("/c/upper/etc/hostname")
        );
    }

    #[test]
    fn no_etc_means_no_generated_files() {
        let sys = host();
        let rootfs = Rootfs::Dir("/images/scratch".into());
        let spec = spec(false);
        let etc = EtcFiles::default();
        prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap();
        assert!(!sys.mount_targets().iter().any(|t| t.ends_with("etc/hosts")));
    }
}
