//! `--runtime runc|crun`: the same spec written as an OCI bundle
//! (config.json + rootfs) and run by that runtime in the foreground.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use oci_spec::runtime::{MountBuilder, Spec};

use super::{etc, Error, ExitStatus, Outcome, Request};
use crate::process::init::forwarded_mask;
use crate::process::rootfs::Rootfs;

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
    let (root, mounted) = rootfs_dir(&req.rootfs, dir)?;
    let result = write_and_run(runtime, &req, dir, &root);
    if mounted {
        let _ = nix::mount::umount2(&root, MntFlags::MNT_DETACH);
    }
    result
}

/// An overlay has to be mounted on the host for another runtime to use it.
fn rootfs_dir(rootfs: &Rootfs, dir: &Path) -> Result<(PathBuf, bool), Error> {
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
            let lower: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.join(":"),
                upper.display(),
                work.display()
            );
            nix::mount::mount(
                Some("overlay"),
                &target,
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(|e| Error::Io(e.into()))?;
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
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).is_err() {
        return ExitCode::from(125);
    }
    let _ = nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    );
    let _ = nix::mount::umount2("/sys/fs/cgroup/unified", MntFlags::MNT_DETACH);
    let err = Command::new("crun").args(args).exec();
    eprintln!("kiln: error: running crun: {err}");
    ExitCode::from(125)
}
