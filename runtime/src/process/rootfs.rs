//! The container's filesystem: the rootfs (overlayfs or a directory), the
//! spec's mounts, `/dev`, the generated `/etc` files, `pivot_root`, then
//! Docker's masked and read-only paths. Every call goes through
//! [`Syscalls`], so the plan is unit-tested with [`crate::syscalls::Recording`].

use std::collections::VecDeque;
use std::io;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use serde::{Deserialize, Serialize};

use super::cgroup_mount;
use crate::syscalls::{Device, Kind, Syscalls};

/// Where a container's root comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rootfs {
    /// An overlay. `lowers` are listed **top first**, the order of
    /// overlayfs's `lowerdir=` option (the first entry hides the ones after
    /// it). `upper` receives every change; `work` is an empty directory on
    /// the same filesystem as `upper`. The runtime mounts it in its own
    /// mount namespace, so nothing stays mounted after the run.
    Overlay {
        lowers: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        /// Mount with overlayfs's `volatile`: no sync of the upper
        /// filesystem when the overlay goes. For containers whose upper is
        /// thrown away (`run --rm`): the unmount at the end would otherwise
        /// flush every dirty page of the whole host filesystem holding
        /// `upper`, which after a large write takes seconds.
        #[serde(default)]
        volatile: bool,
    },
    /// A plain directory, used in place (changes are written into it).
    Dir(PathBuf),
}

/// The three files Docker generates for every container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcFiles {
    pub hosts: String,
    pub hostname: String,
    pub resolv_conf: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mounting {what} on {target}: {source}")]
    Mount {
        what: String,
        target: PathBuf,
        source: io::Error,
    },
    #[error("{op} {path}: {source}")]
    Fs {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("pivot_root to {0}: {1}")]
    Pivot(PathBuf, io::Error),
    #[error("{0}: too many levels of symbolic links")]
    Loop(PathBuf),
    #[error("an overlay rootfs needs at least one lower directory")]
    NoLowers,
    #[error("{0} layers are more than one overlay mount takes here (Docker's limit is 125)")]
    TooDeep(usize),
    #[error("{0}")]
    Cgroup(String),
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// What the helper needs to build the container's filesystem.
pub struct Layout<'a> {
    /// A host directory the helper mounts a private tmpfs on (in its own
    /// mount namespace, so every container can use the same path).
    pub staging: &'a Path,
    pub rootfs: &'a Rootfs,
    pub spec: &'a Spec,
    pub etc: &'a EtcFiles,
    /// Puts the process in its cgroups; called once, before the first
    /// `cgroup` mount, whose view shows the cgroups the process is in.
    pub join: &'a dyn Fn() -> std::result::Result<(), String>,
}

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

/// Builds the whole filesystem and pivots into it; returns the mount-point
/// stubs it created, as paths relative to the container's root.
pub fn setup<S: Syscalls>(sys: &S, layout: &Layout) -> Result<Vec<PathBuf>> {
    let (root, stubs) = prepare(sys, layout)?;
    sys.pivot_root(&root)
        .map_err(|e| Error::Pivot(root.clone(), e))?;
    finish(sys, layout.spec)?;
    Ok(stubs)
}

/// Where the rootfs keeps a path the container wrote at `rel` (relative to
/// its root): the upper directory of an overlay, or the directory itself.
pub fn host_path(rootfs: &Rootfs, rel: &Path) -> PathBuf {
    match rootfs {
        Rootfs::Overlay { upper, .. } => upper.join(rel),
        Rootfs::Dir(dir) => dir.join(rel),
    }
}

/// Everything before `pivot_root`; returns the new root's path and the
/// /etc stubs created (relative to it).
pub fn prepare<S: Syscalls>(sys: &S, layout: &Layout) -> Result<(PathBuf, Vec<PathBuf>)> {
    mount(
        sys,
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    fs(
        "mkdir",
        layout.staging,
        sys.mkdir_all(layout.staging, 0o700),
    )?;
    let tmpfs = Some(Path::new("tmpfs"));
    mount(
        sys,
        tmpfs,
        layout.staging,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755,size=1m"),
    )?;
    let root = layout.staging.join("root");
    let etc = layout.staging.join("etc");
    for dir in [&root, &etc] {
        fs("mkdir", dir, sys.mkdir_all(dir, 0o755))?;
    }
    mount_rootfs(sys, layout.rootfs, &root)?;
    let cgroupns = has_cgroupns(layout.spec);
    for m in layout.spec.mounts().iter().flatten() {
        match m.typ().as_deref() {
            Some("cgroup") => {
                (layout.join)().map_err(Error::Cgroup)?;
                mount_cgroups(sys, &root, m, cgroupns)?;
            }
            _ => mount_entry(sys, &root, m)?,
        }
    }
    if dev_is_tmpfs(layout.spec) {
        populate_dev(sys, &root)?;
    }
    let stubs = bind_etc_files(sys, &root, &etc, layout.etc, layout.spec)?;
    Ok((root, stubs))
}

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

/// `lowers` without repeats, each kept where it first (highest) appears.
/// overlayfs refuses a directory listed twice (ELOOP, "conflicting
/// lowerdir path"), and the store keeps one snapshot per diff_id, so an
/// image with two identical layers (two empty ones, from RUN or WORKDIR
/// steps that changed nothing) names one directory twice. The lower copy
/// adds nothing: every path it holds, the higher copy holds too.
pub fn distinct_lowers(lowers: &[PathBuf]) -> Vec<&PathBuf> {
    let mut seen = std::collections::HashSet::new();
    lowers.iter().filter(|l| seen.insert(*l)).collect()
}

/// mount(2) reads one page of options (and `,volatile` may follow).
const OPTIONS_MAX: usize = 4095 - ",volatile".len();

/// The layers for `lowerdir=`, top first. A list too long for one page
/// (about 80 store paths) names them relative to the directory that holds
/// them all, the store's `snapshots/`, made the working directory for the
/// mount (as Docker's overlay2 names its short links): about 150 fit.
fn lower_option<S: Syscalls>(sys: &S, lowers: &[&PathBuf], rest: usize) -> Result<String> {
    let absolute: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
    let absolute = absolute.join(":");
    let parent = lowers.first().and_then(|l| l.parent());
    let shared = parent.filter(|p| lowers.iter().all(|l| l.parent() == Some(*p)));
    let Some(parent) = shared.filter(|_| "lowerdir=".len() + absolute.len() + rest > OPTIONS_MAX)
    else {
        return Ok(absolute);
    };
    sys.chdir(parent).map_err(|source| Error::Fs {
        op: "entering",
        path: parent.to_path_buf(),
        source,
    })?;
    let names: Vec<String> = lowers
        .iter()
        .filter_map(|l| l.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let names = names.join(":");
    if "lowerdir=".len() + names.len() + rest > OPTIONS_MAX {
        return Err(Error::TooDeep(lowers.len()));
    }
    Ok(names)
}

fn mount_rootfs<S: Syscalls>(sys: &S, rootfs: &Rootfs, target: &Path) -> Result<()> {
    match rootfs {
        Rootfs::Dir(dir) => {
            let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(sys, Some(dir), target, None, flags, None)
        }
        Rootfs::Overlay {
            lowers,
            upper,
            work,
            volatile,
        } => {
            if lowers.is_empty() {
                return Err(Error::NoLowers);
            }
            let rest = format!(",upperdir={},workdir={}", upper.display(), work.display());
            let lower = lower_option(sys, &distinct_lowers(lowers), rest.len())?;
            let data = format!("lowerdir={lower}{rest}");
            let source = Some(Path::new("overlay"));
            let overlay = |data: &str| {
                mount(
                    sys,
                    source,
                    target,
                    Some("overlay"),
                    MsFlags::empty(),
                    Some(data),
                )
            };
            // Kernels before 5.10 know no `volatile`: mount as before.
            match volatile {
                true => overlay(&format!("{data},volatile")).or_else(|_| overlay(&data)),
                false => overlay(&data),
            }
        }
    }
}

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

fn mount_entry<S: Syscalls>(sys: &S, root: &Path, m: &Mount) -> Result<()> {
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
            // (`--network host`): bind the host's /sys read-only instead.
            (Err(_), Some("sysfs")) => {
                let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(sys, Some(Path::new("/sys")), &target, None, rbind, None)?;
                let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
                mount(sys, None, &target, None, ro, None)?;
            }
            (result, _) => result?,
        }
    }
    if !opts.propagation.is_empty() {
        mount(sys, None, &target, None, opts.propagation, None)?;
    }
    Ok(())
}

fn has_cgroupns(spec: &Spec) -> bool {
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    list.into_iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Cgroup)
}

fn mount_cgroups<S: Syscalls>(sys: &S, root: &Path, m: &Mount, cgroupns: bool) -> Result<()> {
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

fn dev_is_tmpfs(spec: &Spec) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs"))
}

fn populate_dev<S: Syscalls>(sys: &S, root: &Path) -> Result<()> {
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

/// Binds /etc/hosts, /etc/hostname and /etc/resolv.conf over the image's,
/// unless the spec mounts one itself (Docker lets user mounts win). An
/// image without /etc gets none (nothing is created in its root). Returns
/// the files it had to create as mount points, relative to `root`.
fn bind_etc_files<S: Syscalls>(
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

/// `root` joined with `path`, resolving symlinks as if `root` were `/`, so
/// an image's symlink cannot point a mount at the host.
pub fn secure_join<S: Syscalls>(sys: &S, root: &Path, path: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut queue: VecDeque<PathBuf> = path
        .components()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut links = 0;
    while let Some(part) = queue.pop_front() {
        match part.components().next() {
            Some(Component::Normal(name)) => {
                let candidate = resolved.join(name);
                if sys.kind(&root.join(&candidate)) != Some(Kind::Symlink) {
                    resolved = candidate;
                    continue;
                }
                links += 1;
                if links > 40 {
                    return Err(Error::Loop(path.to_path_buf()));
                }
                let target = sys
                    .read_link(&root.join(&candidate))
                    .map_err(|source| Error::Fs {
                        op: "readlink",
                        path: candidate.clone(),
                        source,
                    })?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in target.components().rev() {
                    queue.push_front(PathBuf::from(c.as_os_str()));
                }
            }
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            _ => {}
        }
    }
    Ok(root.join(resolved))
}

pub(crate) fn mount<S: Syscalls>(
    sys: &S,
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    sys.mount(source, target, fstype, flags, data)
        .map_err(|e| Error::Mount {
            what: fstype
                .map(str::to_string)
                .or_else(|| source.map(|s| s.display().to_string()))
                .unwrap_or_else(|| "flags".into()),
            target: target.to_path_buf(),
            source: e,
        })
}

pub(crate) fn fs(op: &'static str, path: &Path, r: io::Result<()>) -> Result<()> {
    r.map_err(|source| Error::Fs {
        op,
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn ignore_exists(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Config;
    use crate::syscalls::{Call, Recording};

    fn layout_with<'a>(spec: &'a Spec, rootfs: &'a Rootfs, etc: &'a EtcFiles) -> Layout<'a> {
        Layout {
            staging: Path::new("/run/kiln/rootfs"),
            rootfs,
            spec,
            etc,
            join: &|| Ok(()),
        }
    }

    /// A host with one v1 hierarchy, as `/proc/self` shows it.
    fn host() -> Recording {
        Recording::new()
            .with_file(
                "/proc/self/mountinfo",
                "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
            )
            .with_file("/proc/self/cgroup", "4:memory:/kiln/t\n")
    }

    fn spec(read_only: bool) -> Spec {
        let config = Config {
            read_only,
            ..Config::default()
        };
        config.to_spec("t").unwrap()
    }

    #[test]
    fn a_lower_list_beyond_a_page_is_named_from_the_snapshots_dir() {
        let sys = host();
        let dir = "/var/lib/kiln/snapshots";
        let lowers: Vec<PathBuf> = (0..120).map(|i| format!("{dir}/{i:0>25}").into()).collect();
        let rootfs = Rootfs::Overlay {
            lowers,
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            volatile: true,
        };
        let spec = spec(false);
        let etc = EtcFiles::default();
        prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap();
        let calls = sys.calls();
        let entered = calls.iter().position(|c| *c == Call::Chdir(dir.into()));
        let overlay = calls
            .iter()
            .position(|c| matches!(c, Call::Mount { fstype: Some(t), .. } if t == "overlay"));
        assert!(entered.unwrap() < overlay.unwrap(), "{calls:?}");
        let Call::Mount {
            data: Some(data), ..
        } = &calls[overlay.unwrap()]
        else {
            unreachable!()
        };
        assert!(data.len() < 4096, "{} bytes", data.len());
        let first = format!("lowerdir={:0>25}:{:0>25}:", 0, 1);
        assert!(data.starts_with(&first), "{data}");
        assert!(
            data.ends_with(",upperdir=/c/upper,workdir=/c/work,volatile"),
            "{data}"
        );
    }

    #[test]
    fn a_lower_list_beyond_a_page_even_relative_is_refused_by_count() {
        let sys = host();
        let lowers: Vec<PathBuf> = (0..300)
            .map(|i| format!("/var/lib/kiln/snapshots/{i:0>25}").into())
            .collect();
        let rootfs = Rootfs::Overlay {
            lowers,
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            volatile: false,
        };
        let spec = spec(false);
        let etc = EtcFiles::default();
        let err = prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap_err();
        assert!(matches!(err, Error::TooDeep(300)), "{err}");
    }

    #[test]
    fn overlay_lowers_are_top_first() {
        let sys = host();
        let rootfs = Rootfs::Overlay {
            lowers: vec!["/s/top".into(), "/s/base".into()],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            volatile: false,
        };
        let spec = spec(false);
        let etc = EtcFiles::default();
        prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap();
        let overlay = sys.calls().into_iter().find_map(|c| match c {
            Call::Mount {
                fstype: Some(t),
                data,
                ..
            } if t == "overlay" => data,
            _ => None,
        });
        assert_eq!(
            overlay.unwrap(),
            "lowerdir=/s/top:/s/base,upperdir=/c/upper,workdir=/c/work"
        );
    }

    #[test]
    fn a_layer_listed_twice_is_mounted_once_where_it_is_highest() {
        let lowers: Vec<PathBuf> = ["/s/empty", "/s/a", "/s/empty", "/s/base"]
            .map(PathBuf::from)
            .to_vec();
        let kept: Vec<&str> = distinct_lowers(&lowers)
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect();
        assert_eq!(kept, ["/s/empty", "/s/a", "/s/base"]);
    }

    #[test]
    fn mounts_come_in_docker_order_and_dev_is_populated() {
        let sys = host().with("/run/kiln/rootfs/root/etc", Kind::Dir);
        let rootfs = Rootfs::Dir("/images/bb".into());
        let spec = spec(false);
        let etc = EtcFiles::default();
        let (root, stubs) = prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap();
        assert_eq!(root, Path::new("/run/kiln/rootfs/root"));
        // nothing existed at /etc/hosts & co, so all three are stubs to remove later
        assert_eq!(
            stubs,
            ["etc/hosts", "etc/hostname", "etc/resolv.conf"].map(PathBuf::from)
        );
        let targets = sys.mount_targets();
        let r = |p: &str| root.join(p);
        let expect = [
            PathBuf::from("/"),
            PathBuf::from("/run/kiln/rootfs"),
            root.clone(),
            r("proc"),
            r("dev"),
            r("dev/pts"),
            r("dev/shm"),
            r("dev/mqueue"),
            r("sys"),
            r("sys/fs/cgroup"),
            r("sys/fs/cgroup/memory"),
            r("sys/fs/cgroup/memory"),
            r("sys/fs/cgroup"),
            r("etc/hosts"),
            r("etc/hostname"),
            r("etc/resolv.conf"),
        ];
        assert_eq!(targets, expect);
        let calls = sys.calls();
        assert!(calls.contains(&Call::Mknod(
            r("dev/null"),
            Device {
                major: 1,
                minor: 3,
                mode: 0o666
            }
        )));
        assert!(calls.contains(&Call::Symlink("pts/ptmx".into(), r("dev/ptmx"))));
        assert!(calls.contains(&Call::Mount {
            source: Some("/run/kiln/rootfs/etc/hosts".into()),
            target: r("etc/hosts"),
            fstype: None,
            flags: MsFlags::MS_BIND,
            data: None
        }));
    }

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
    fn symlinks_resolve_inside_the_root() {
        let sys = Recording::new()
            .with_link("/r/etc", "/../../host-etc")
            .with_link("/r/host-etc/x", "y");
        let p = secure_join(&sys, Path::new("/r"), Path::new("/etc/x/z")).unwrap();
        assert_eq!(p, Path::new("/r/host-etc/y/z"));
        let looped = Recording::new().with_link("/r/a", "/a");
        assert!(matches!(
            secure_join(&looped, Path::new("/r"), Path::new("/a")),
            Err(Error::Loop(_))
        ));
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
