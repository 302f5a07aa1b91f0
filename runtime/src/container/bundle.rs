//! `--runtime runc|crun`: the same spec written as an OCI bundle
//! (config.json + rootfs) and run by that runtime in the foreground.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use oci_spec::runtime::{MountBuilder, Spec};

use super::{etc, Error, ExitStatus, Outcome, Request};
use crate::process::init::forwarded_mask;
use crate::process::rootfs::Rootfs;
use crate::syscalls::{Real, Syscalls};

/// argv[1] of the shim that runs crun in a private mount namespace.
pub const CRUN_MARKER: &str = "__kiln-crun";

/// An external OCI runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OciRuntime {
    Runc,
    Crun,
}

impl OciRuntime {
    pub fn name(self) -> &'static str {
        match self {
            OciRuntime::Runc => "runc",
            OciRuntime::Crun => "crun",
        }
    }
}

/// Writes `req` as a bundle in `dir` and runs it with `runtime` until it
/// ends. Signals kiln receives are passed to the runtime, which forwards
/// them. The bundle directory is left for the caller to remove.
pub fn run(runtime: OciRuntime, req: Request, dir: &Path) -> Result<Outcome, Error> {
    std::fs::create_dir_all(dir)?;
    with_rootfs(&Real, &req.rootfs, dir, |root| {
        write_and_run(runtime, &req, dir, root)
    })
}

/// Runs `f` on the bundle's root directory, unmounting it afterwards if
/// it had to be mounted, whatever `f` returned.
fn with_rootfs<S: Syscalls>(
    sys: &S,
    rootfs: &Rootfs,
    dir: &Path,
    f: impl FnOnce(&Path) -> Result<Outcome, Error>,
) -> Result<Outcome, Error> {
    let (root, mounted) = rootfs_dir(sys, rootfs, dir)?;
    let result = f(&root);
    if mounted {
        let _ = sys.umount(&root, MntFlags::MNT_DETACH);
    }
    result
}

/// An overlay has to be mounted on the host for another runtime to use it.
fn rootfs_dir<S: Syscalls>(sys: &S, rootfs: &Rootfs, dir: &Path) -> Result<(PathBuf, bool), Error> {
    match rootfs {
        Rootfs::Dir(d) => Ok((std::fs::canonicalize(d)?, false)),
        Rootfs::Overlay {
            lowers,
            upper,
            work,
            ..
        } => {
            let target = dir.join("rootfs");
            std::fs::create_dir_all(&target)?;
            let lower: Vec<String> = crate::process::rootfs::distinct_lowers(lowers)
                .iter()
                .map(|l| l.display().to_string())
                .collect();
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.join(":"),
                upper.display(),
                work.display()
            );
            sys.mount(
                Some(Path::new("overlay")),
                &target,
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(Error::Io)?;
            Ok((target, true))
        }
    }
}

fn write_and_run(
    runtime: OciRuntime,
    req: &Request,
    dir: &Path,
    root: &Path,
) -> Result<Outcome, Error> {
    let spec = bundle_spec(&req.spec, dir, root)?;
    spec.save(dir.join("config.json"))
        .map_err(|e| Error::Runtime {
            runtime: runtime.name().into(),
            message: e.to_string(),
        })?;
    let mut cmd = match runtime {
        OciRuntime::Runc => Command::new("runc"),
        OciRuntime::Crun => {
            let mut c = Command::new("/proc/self/exe");
            c.arg(CRUN_MARKER);
            c
        }
    };
    cmd.arg("run").arg("--bundle").arg(dir).arg(&req.id);
    foreground(runtime, cmd)
}

/// The spec with an absolute root and the generated /etc files as binds.
fn bundle_spec(spec: &Spec, dir: &Path, root: &Path) -> Result<Spec, Error> {
    let mut spec = spec.clone();
    let mut r = spec.root().clone().unwrap_or_default();
    r.set_path(root.to_path_buf());
    spec.set_root(Some(r));
    let files = etc::files(&spec);
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if root.join("etc").is_dir() {
        for (name, text) in [
            ("hosts", &files.hosts),
            ("hostname", &files.hostname),
            ("resolv.conf", &files.resolv_conf),
        ] {
            let src = dir.join(format!("etc-{name}"));
            std::fs::write(&src, text)?;
            let m = MountBuilder::default()
                .destination(format!("/etc/{name}"))
                .typ("bind")
                .source(src)
                .options(vec!["rbind".to_string(), "rw".to_string()])
                .build()
                .map_err(|e| Error::Setup(e.to_string()))?;
            mounts.push(m);
        }
    }
    spec.set_mounts(Some(mounts));
    Ok(spec)
}

fn foreground(runtime: OciRuntime, mut cmd: Command) -> Result<Outcome, Error> {
    let mut old = SigSet::empty();
    sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&forwarded_mask()),
        Some(&mut old),
    )
    .map_err(|e| Error::Io(e.into()))?;
    let result = (|| -> Result<std::process::ExitStatus, Error> {
        let sfd = SignalFd::with_flags(&forwarded_mask(), SfdFlags::SFD_CLOEXEC)
            .map_err(|e| Error::Io(e.into()))?;
        let mut child = cmd.spawn().map_err(|e| Error::Runtime {
            runtime: runtime.name().into(),
            message: e.to_string(),
        })?;
        let pid = Pid::from_raw(child.id() as i32);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            let Ok(Some(info)) = sfd.read_signal() else {
                continue;
            };
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) | Err(_) => {}
                Ok(sig) => {
                    let _ = kill(pid, sig);
                }
            }
        }
    })();
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    let status = result?;
    use std::os::unix::process::ExitStatusExt;
    let status = match (status.code(), status.signal()) {
        (Some(c), _) => ExitStatus::Code(c),
        (None, Some(s)) => ExitStatus::Signal(s),
        _ => ExitStatus::Code(1),
    };
    Ok(Outcome {
        status,
        oom_killed: false,
    })
}

/// Runs crun where it does not see the hybrid layout's cgroup2 mount:
/// Debian's crun 1.8 refuses "cgroups in hybrid mode" otherwise.
pub fn crun_shim() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(2).collect();
    if hide_unified_cgroup(&Real).is_err() {
        return ExitCode::from(125);
    }
    let err = Command::new("crun").args(args).exec();
    eprintln!("kiln: error: running crun: {err}");
    ExitCode::from(125)
}

/// A mount namespace of this process's own, private, without
/// `/sys/fs/cgroup/unified`; only the namespace is required.
fn hide_unified_cgroup<S: Syscalls>(sys: &S) -> io::Result<()> {
    sys.unshare(CloneFlags::CLONE_NEWNS)?;
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    let _ = sys.mount(None, Path::new("/"), None, private, None);
    let _ = sys.umount(Path::new("/sys/fs/cgroup/unified"), MntFlags::MNT_DETACH);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{Call, Recording};

    fn overlay() -> Rootfs {
        Rootfs::Overlay {
            lowers: vec!["/s/2".into(), "/s/1".into()],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            volatile: false,
        }
    }

    fn ended() -> Outcome {
        Outcome {
            status: ExitStatus::Code(0),
            oom_killed: false,
        }
    }

    #[test]
    fn an_overlay_bundle_is_mounted_for_the_run_and_unmounted_after_it() {
        let t = tempfile::tempdir().unwrap();
        let sys = Recording::new();
        let target = t.path().join("rootfs");
        let mut seen = None;
        with_rootfs(&sys, &overlay(), t.path(), |root| {
            seen = Some(root.to_path_buf());
            Ok(ended())
        })
        .unwrap();
        assert_eq!(seen.as_deref(), Some(target.as_path()));
        assert!(target.is_dir(), "the mount point is made");
        assert_eq!(
            sys.calls(),
            [
                Call::Mount {
                    source: Some("overlay".into()),
                    target: target.clone(),
                    fstype: Some("overlay".into()),
                    flags: MsFlags::empty(),
                    data: Some("lowerdir=/s/2:/s/1,upperdir=/c/upper,workdir=/c/work".into()),
                },
                Call::Umount(target, MntFlags::MNT_DETACH),
            ]
        );
    }

    #[test]
    fn a_failed_run_still_unmounts_and_a_failed_mount_runs_nothing() {
        let t = tempfile::tempdir().unwrap();
        let sys = Recording::new();
        let failed = with_rootfs(&sys, &overlay(), t.path(), |_| {
            Err(Error::Setup("no runtime".into()))
        });
        assert!(matches!(failed, Err(Error::Setup(_))));
        assert!(matches!(sys.calls().last(), Some(Call::Umount(..))));

        let sys = Recording::new().failing(0, libc::EPERM);
        let mut ran = false;
        let e = with_rootfs(&sys, &overlay(), t.path(), |_| {
            ran = true;
            Ok(ended())
        })
        .unwrap_err();
        assert!(!ran);
        assert!(matches!(e, Error::Io(ref io) if io.raw_os_error() == Some(libc::EPERM)));
        assert_eq!(sys.calls().len(), 1, "nothing to unmount");
    }

    #[test]
    fn a_directory_rootfs_is_used_in_place() {
        let t = tempfile::tempdir().unwrap();
        let sys = Recording::new();
        let rootfs = Rootfs::Dir(t.path().to_path_buf());
        let root = with_rootfs(&sys, &rootfs, t.path(), |root| {
            assert_eq!(root, t.path().canonicalize().unwrap());
            Ok(ended())
        });
        assert!(root.is_ok());
        assert!(sys.calls().is_empty());
    }

    #[test]
    fn crun_runs_in_a_private_namespace_without_the_unified_cgroup() {
        let sys = Recording::new();
        hide_unified_cgroup(&sys).unwrap();
        assert_eq!(
            sys.calls(),
            [
                Call::Unshare(CloneFlags::CLONE_NEWNS),
                Call::Mount {
                    source: None,
                    target: "/".into(),
                    fstype: None,
                    flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    data: None,
                },
                Call::Umount("/sys/fs/cgroup/unified".into(), MntFlags::MNT_DETACH),
            ]
        );
        let sys = Recording::new().failing(0, libc::EPERM);
        assert!(hide_unified_cgroup(&sys).is_err());
        assert_eq!(sys.calls().len(), 1, "no namespace, no mounts");
        let sys = Recording::new().failing(1, libc::EINVAL);
        assert!(hide_unified_cgroup(&sys).is_ok(), "the rest is best effort");
    }
}
