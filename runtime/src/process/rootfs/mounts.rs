//! The spec's mounts: OCI `options` parsed into flags, propagation and
//! data; bind mounts remounted for their extra flags; cgroup views.

use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use super::resolve::secure_join;
use super::{fs, mount, Error, Result};
use crate::process::cgroup_mount;
use crate::syscalls::{Kind, Syscalls};

/// Flags and data of an OCI mount's `options`.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    flags: MsFlags,
    propagation: MsFlags,
    data: Vec<String>,
    bind: bool,
}

fn parse_options(options: &[String]) -> Options {
    let mut o = Options {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: Vec::new(),
        bind: false,
    };
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            p => {
                match propagation(p) {
                    Some(f) => o.propagation |= f,
                    None => o.data.push(p.to_string()),
                }
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o.bind = o.flags.contains(MsFlags::MS_BIND);
    o
}

fn propagation(option: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

pub(super) fn mount_entry<S: Syscalls>(sys: &S, root: &Path, m: &Mount) -> Result<()> {
    let target = secure_join(sys, root, m.destination())?;
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().filter(|t| *t != "bind" && !opts.bind);
    let source = m.source().as_deref();
    let source_is_dir = match (opts.bind, source) {
        (true, Some(s)) => sys.kind(s) == Some(Kind::Dir),
        _ => true,
    };
    make_target(sys, &target, source_is_dir)?;
    let data = (!opts.data.is_empty()).then(|| opts.data.join(","));
    if opts.bind {
        let flags = opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
        mount(sys, source, &target, None, flags, None)?;
        let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            let flags = extra | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
            mount(sys, None, &target, None, flags, None)?;
        }
    } else {
        let result = mount(sys, source, &target, typ, opts.flags, data.as_deref());
        match (result, typ) {
            // sysfs cannot be mounted from the host's network namespace
            // (`--network host`), nor where parts of /sys are masked (in a
            // container): bind the host's /sys read-only instead. The
            // remount keeps nosuid/nodev/noexec, which a user namespace may
            // not clear from a mount it did not make.
            (Err(_), Some("sysfs")) => {
                let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(sys, Some(Path::new("/sys")), &target, None, rbind, None)?;
                let kept = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
                let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
                mount(sys, None, &target, None, ro | (opts.flags & kept), None)?;
            }
            // gid=5 (tty) is unmapped in a rootless kiln's single-ID
            // user namespace: the ptys then belong to the caller's group.
            (Err(e), Some("devpts")) => {
                let without_gid: Vec<&str> = (opts.data.iter())
                    .filter(|o| !o.starts_with("gid="))
                    .map(String::as_str)
                    .collect();
                if without_gid.len() == opts.data.len() {
                    return Err(e);
                }
                let data = without_gid.join(",");
                mount(sys, source, &target, typ, opts.flags, Some(&data)).map_err(|_| e)?;
            }
            (Err(Error::Mount { target, source, .. }), Some("proc"))
                if source.raw_os_error() == Some(libc::EPERM) =>
            {
                return Err(Error::ProcRefused { target, source });
            }
            (result, _) => result?,
        }
    }
    if !opts.propagation.is_empty() {
        mount(sys, None, &target, None, opts.propagation, None)?;
    }
    Ok(())
}

pub(super) fn has_cgroupns(spec: &Spec) -> bool {
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    list.into_iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Cgroup)
}

pub(super) fn mount_cgroups<S: Syscalls>(
    sys: &S,
    root: &Path,
    m: &Mount,
    cgroupns: bool,
) -> Result<()> {
    let target = secure_join(sys, root, m.destination())?;
    make_target(sys, &target, true)?;
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    cgroup_mount::mount_view(sys, &target, opts.flags, cgroupns)
}

fn make_target<S: Syscalls>(sys: &S, target: &Path, dir: bool) -> Result<()> {
    if dir {
        return fs("mkdir", target, sys.mkdir_all(target, 0o755));
    }
    if let Some(parent) = target.parent() {
        fs("mkdir", parent, sys.mkdir_all(parent, 0o755))?;
    }
    fs("create", target, sys.touch(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{Call, Recording};

    #[test]
    fn bind_mounts_remount_read_only() {
        let sys = Recording::new().with("/host/data", Kind::Dir);
        let m = oci_spec::runtime::MountBuilder::default()
            .destination("/data")
            .typ("bind")
            .source("/host/data")
            .options(vec!["rbind".to_string(), "ro".to_string()])
            .build()
            .unwrap();
        mount_entry(&sys, Path::new("/r"), &m).unwrap();
        let calls = sys.calls();
        assert_eq!(calls[0], Call::Mkdir("/r/data".into()));
        assert!(
            matches!(&calls[1], Call::Mount { flags, .. } if *flags == MsFlags::MS_BIND | MsFlags::MS_REC)
        );
        assert!(matches!(&calls[2], Call::Mount { flags, .. }
            if *flags == MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REMOUNT));
    }

    #[test]
    fn a_refused_proc_says_how_to_get_one() {
        // Call 0 makes the target, call 1 is the mount.
        let sys = Recording::new().failing(1, libc::EPERM);
        let m = oci_spec::runtime::MountBuilder::default()
            .destination("/proc")
            .typ("proc")
            .source("proc")
            .build()
            .unwrap();
        let err = mount_entry(&sys, Path::new("/r"), &m).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("mounting proc on /r/proc: "), "{text}");
        assert!(text.contains("systempaths=unconfined"), "{text}");
        assert!(text.contains("--no-process-sandbox"), "{text}");
    }

    #[test]
    fn devpts_is_mounted_again_without_an_unmapped_gid() {
        // Call 0 makes the target, call 1 is the mount, refused as a
        // single-ID user namespace refuses gid=5.
        let sys = Recording::new().failing(1, libc::EINVAL);
        let m = oci_spec::runtime::MountBuilder::default()
            .destination("/dev/pts")
            .typ("devpts")
            .source("devpts")
            .options(vec![
                "nosuid".into(),
                "ptmxmode=0666".into(),
                "gid=5".into(),
            ])
            .build()
            .unwrap();
        mount_entry(&sys, Path::new("/r"), &m).unwrap();
        let data: Vec<Option<String>> = (sys.calls().into_iter())
            .filter_map(|c| match c {
                Call::Mount { data, .. } => Some(data),
                _ => None,
            })
            .collect();
        assert_eq!(
            data,
            [
                Some("ptmxmode=0666,gid=5".into()),
                Some("ptmxmode=0666".into())
            ]
        );
    }

    #[test]
    fn a_refused_sysfs_is_the_hosts_bound_read_only_with_its_locks_kept() {
        // Call 1, the sysfs mount, is refused (masked /sys, host network).
        let sys = Recording::new().failing(1, libc::EPERM);
        let m = oci_spec::runtime::MountBuilder::default()
            .destination("/sys")
            .typ("sysfs")
            .source("sysfs")
            .options(
                ["nosuid", "noexec", "nodev", "ro"]
                    .map(String::from)
                    .to_vec(),
            )
            .build()
            .unwrap();
        mount_entry(&sys, Path::new("/r"), &m).unwrap();
        let flags: Vec<MsFlags> = (sys.calls().into_iter())
            .filter_map(|c| match c {
                Call::Mount { flags, .. } => Some(flags),
                _ => None,
            })
            .collect();
        let locks = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let bind = MsFlags::MS_BIND;
        assert_eq!(
            flags[1..],
            [
                bind | MsFlags::MS_REC,
                bind | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locks
            ]
        );
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "mode=755".into(),
            "rprivate".into(),
            "ro".into(),
        ]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert_eq!(o.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(o.data, vec!["mode=755".to_string()]);
        assert!(!o.bind);
    }
}
