//! Rootless operation: the user namespace an ordinary user's kiln runs in.
//!
//! An unprivileged kiln joins a user and mount namespace held by the
//! user's pause process (the CLI drives that); this module holds the
//! pieces: the ID mapping from `/etc/subuid` and `/etc/subgid`, the
//! commands that install it (`newuidmap`/`newgidmap`, set-uid helpers of
//! the `uidmap` package), the pause process's half and the join. Inside,
//! kiln is root over the mapped IDs and the rest of the runtime runs
//! unchanged, except where real root is needed: cgroups (v1 has no
//! delegation) and device nodes, which [`crate::spec`] refuses.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sched::CloneFlags;
use nix::sys::signal::{raise, Signal};
use nix::unistd::{Gid, Pid, Uid};

/// Set in the environment of the pause process, a kiln started again
/// to be it.
pub const PAUSE_ENV: &str = "_KILN_ROOTLESS_PAUSE";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rootless: entering a user namespace: {0}")]
    Unshare(nix::Error),
    /// `unshare` itself refused: the answer of a seccomp profile or of
    /// the kernel's settings, which the person running kiln can change.
    #[error(
        "rootless: entering a user namespace: {0}: user namespaces are refused here; in a \
         container, give it kiln's seccomp profile (docker run --security-opt \
         seccomp=examples/runner/seccomp.json; Kubernetes: a Localhost profile, see \
         examples/kubernetes), as the default profiles refuse them; on a host, see the \
         sysctls kernel.unprivileged_userns_clone and user.max_user_namespaces"
    )]
    Refused(nix::Error),
    #[error("rootless: the ID mapping was not installed (uid {0} inside)")]
    NotMapped(u32),
    #[error("rootless: {tool} not found; install the uidmap package ({source})")]
    ToolMissing {
        tool: &'static str,
        source: io::Error,
    },
    #[error("rootless: {tool} failed: {stderr}")]
    ToolFailed { tool: &'static str, stderr: String },
    #[error("rootless: keeping the working directory: {0}")]
    Cwd(nix::Error),
    #[error("rootless: joining the namespace of {path}: {source}")]
    Join { path: PathBuf, source: io::Error },
    #[error("rootless: writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// One line of a `uid_map`/`gid_map`: `count` IDs from `outside` appear
/// from `inside` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The mapping of one ID kind (users or groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap {
    pub ranges: Vec<IdRange>,
}

impl IdMap {
    /// `own` becomes 0; the subordinate ranges follow from 1 in file order.
    pub fn new(own: u32, subordinate: &[(u32, u32)]) -> IdMap {
        let mut ranges = vec![IdRange {
            inside: 0,
            outside: own,
            count: 1,
        }];
        let mut next = 1u32;
        for &(start, count) in subordinate {
            ranges.push(IdRange {
                inside: next,
                outside: start,
                count,
            });
            next = next.saturating_add(count);
        }
        IdMap { ranges }
    }

    /// Whether only the caller's own ID is mapped.
    pub fn is_single(&self) -> bool {
        self.ranges.len() == 1
    }

    /// The `inside outside count` triples, as `newuidmap` takes them.
    pub fn args(&self) -> Vec<String> {
        self.ranges
            .iter()
            .flat_map(|r| [r.inside, r.outside, r.count])
            .map(|n| n.to_string())
            .collect()
    }

    /// The text of a `uid_map` file.
    pub fn file_text(&self) -> String {
        self.ranges
            .iter()
            .map(|r| format!("{} {} {}\n", r.inside, r.outside, r.count))
            .collect()
    }
}

/// The subordinate ranges `/etc/subuid`-format `text` grants the user
/// called `name` with ID `id` (entries name either), in file order.
/// Malformed lines and empty ranges are skipped, as shadow's tools do.
pub fn subordinate_ranges(text: &str, name: &str, id: u32) -> Vec<(u32, u32)> {
    let id = id.to_string();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let owner = fields.next()?;
            let start = fields.next()?.parse::<u32>().ok()?;
            let count = fields.next()?.parse::<u32>().ok()?;
            let ours = owner == name || owner == id;
            (ours && count > 0 && fields.next().is_none()).then_some((start, count))
        })
        .collect()
}

/// The name /etc/passwd gives `uid`. Read here rather than through
/// getpwuid: a static build's libc cannot load the NSS modules.
pub fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    crate::process::user::user_name(&text, uid)
}

/// Both mappings for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mappings {
    pub uid: IdMap,
    pub gid: IdMap,
}

impl Mappings {
    /// The mappings `/etc/subuid` and `/etc/subgid` give the calling user;
    /// a missing file grants nothing.
    pub fn for_current_user() -> Mappings {
        let uid = Uid::current();
        let gid = Gid::current();
        let name = user_name(uid.as_raw()).unwrap_or_default();
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Mappings {
            uid: IdMap::new(
                uid.as_raw(),
                &subordinate_ranges(&read("/etc/subuid"), &name, uid.as_raw()),
            ),
            gid: IdMap::new(
                gid.as_raw(),
                &subordinate_ranges(&read("/etc/subgid"), &name, uid.as_raw()),
            ),
        }
    }

    /// Whether only the user's own IDs are mapped (no subordinate IDs):
    /// then everything kiln makes belongs to root, and no other owner
    /// can be set.
    pub fn is_single(&self) -> bool {
        self.uid.is_single() || self.gid.is_single()
    }

    /// Installs the mappings on process `pid`, which has entered its new
    /// user namespace: through `newuidmap`/`newgidmap` when subordinate
    /// IDs exist, else by writing the single-ID maps directly (which an
    /// unprivileged parent may do once `setgroups` is denied).
    pub fn install(&self, pid: Pid) -> Result<(), Error> {
        if self.is_single() {
            let proc = PathBuf::from(format!("/proc/{pid}"));
            write(&proc.join("setgroups"), "deny")?;
            write(&proc.join("uid_map"), &self.uid.ranges_of_own().file_text())?;
            return write(&proc.join("gid_map"), &self.gid.ranges_of_own().file_text());
        }
        run_tool("newuidmap", pid, &self.uid)?;
        run_tool("newgidmap", pid, &self.gid)
    }
}

impl IdMap {
    /// The first range alone (the caller's own ID).
    fn ranges_of_own(&self) -> IdMap {
        IdMap {
            ranges: self.ranges.iter().take(1).copied().collect(),
        }
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn run_tool(tool: &'static str, pid: Pid, map: &IdMap) -> Result<(), Error> {
    let out = Command::new(tool)
        .arg(pid.to_string())
        .args(map.args())
        .output()
        .map_err(|source| Error::ToolMissing { tool, source })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::ToolFailed {
        tool,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// The pause process's name (`/proc/PID/comm`), by which a pid file that
/// outlived it is told from a live one. It holds the namespace so that
/// every kiln of the user joins the same one: containers one kiln starts
/// are within reach of the next, as podman's pause process makes them.
const PAUSE_NAME: &std::ffi::CStr = c"kiln-pause";

/// The pause process's half: enters a new user and mount namespace,
/// stops until the parent (which waits for the stop) has installed the
/// mapping and continued it, then holds the namespace until killed.
/// Call while single-threaded.
pub fn pause() -> Result<std::convert::Infallible, Error> {
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(
        |e| match e {
            nix::Error::EPERM | nix::Error::ENOSPC | nix::Error::EACCES => Error::Refused(e),
            _ => Error::Unshare(e),
        },
    )?;
    raise(Signal::SIGSTOP).map_err(Error::Unshare)?;
    check_root()?;
    // SAFETY: PR_SET_NAME reads a NUL-terminated string (16 bytes at most).
    unsafe { libc::prctl(libc::PR_SET_NAME, PAUSE_NAME.as_ptr()) };
    loop {
        nix::unistd::pause();
    }
}

/// A kiln's half: joins the user and mount namespace of pause process
/// `pid` and keeps its working directory (joining a mount namespace moves
/// it to the root). The kernel allows it only while single-threaded.
pub fn join(pid: Pid) -> Result<(), Error> {
    let open = |ns: &str| {
        let path = PathBuf::from(format!("/proc/{pid}/ns/{ns}"));
        std::fs::File::open(&path).map_err(|source| Error::Join { path, source })
    };
    let (user, mnt) = (open("user")?, open("mnt")?);
    // O_PATH: a working directory the user may enter but not list still
    // opens; relative paths on the command line must keep meaning it.
    use nix::fcntl::OFlag;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let cwd = nix::fcntl::open(".", flags, nix::sys::stat::Mode::empty()).map_err(Error::Cwd)?;
    nix::sched::setns(user, CloneFlags::CLONE_NEWUSER).map_err(Error::Unshare)?;
    nix::sched::setns(mnt, CloneFlags::CLONE_NEWNS).map_err(Error::Unshare)?;
    nix::unistd::fchdir(&cwd).map_err(Error::Cwd)?;
    check_root()
}

fn check_root() -> Result<(), Error> {
    match Uid::current().as_raw() {
        0 => Ok(()),
        uid => Err(Error::NotMapped(uid)),
    }
}

/// Where the pause process's pid is kept.
pub fn pause_file() -> PathBuf {
    runtime_dir().join("pause.pid")
}

/// The pause process `file` names, if it still runs.
pub fn live_pause(file: &Path) -> Option<Pid> {
    let pid = std::fs::read_to_string(file)
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    // A killed one not yet reaped keeps its name but not its namespaces.
    let holds = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok();
    (comm.trim().as_bytes() == PAUSE_NAME.to_bytes() && holds).then(|| Pid::from_raw(pid))
}

/// Whether this process runs in a user namespace other than the host's
/// (whose map is the identity over every ID): kiln is rootless there.
/// Read each time (a few microseconds): a kiln joins its namespace after
/// it has asked once.
pub fn active() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|text| !is_identity_map(&text))
}

fn is_identity_map(text: &str) -> bool {
    let fields: Vec<&str> = text.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// Where a container's PID 1 stages its root filesystem: `/run/kiln` as
/// root; rootless, /run is the host root's, so the user's runtime dir
/// (`$XDG_RUNTIME_DIR/kiln`, else `/tmp/kiln-UID`, the UID outside).
pub fn staging_dir(default: &Path) -> PathBuf {
    if !active() {
        return default.to_path_buf();
    }
    runtime_dir().join("rootfs")
}

/// The per-user runtime directory of a rootless kiln.
/// `$XDG_RUNTIME_DIR` counts only when it is the caller's (an
/// environment kept across `su` may name root's).
pub fn runtime_dir() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let ours = |dir: &PathBuf| {
        std::fs::metadata(dir).is_ok_and(|m| m.is_dir() && m.uid() == Uid::current().as_raw())
    };
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if !dir.as_os_str().is_empty() && ours(&dir) => dir.join("kiln"),
        _ => PathBuf::from(format!("/tmp/kiln-{}", outside_uid())),
    }
}

/// The caller's UID on the host: inside, the outside ID mapped to 0.
fn outside_uid() -> u32 {
    let own = Uid::current().as_raw();
    if !active() {
        return own;
    }
    std::fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|text| outside_of_root(&text))
        .unwrap_or(own)
}

fn outside_of_root(text: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        (f.next()? == "0").then(|| f.next()?.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_by_name_or_uid_in_order() {
        let text = "alice:100000:65536\nbob:1:2\n1001:300000:10\nbad line\nalice:x:1\nalice:5:0\n";
        assert_eq!(
            subordinate_ranges(text, "alice", 1001),
            [(100000, 65536), (300000, 10)]
        );
        assert!(subordinate_ranges(text, "carol", 7).is_empty());
    }

    #[test]
    fn own_id_is_root_and_ranges_follow() {
        let map = IdMap::new(1001, &[(100000, 65536), (300000, 10)]);
        assert_eq!(
            map.args(),
            ["0", "1001", "1", "1", "100000", "65536", "65537", "300000", "10"]
        );
        assert_eq!(
            map.file_text(),
            "0 1001 1\n1 100000 65536\n65537 300000 10\n"
        );
        assert!(!map.is_single());
        assert!(IdMap::new(1001, &[]).is_single());
    }

    #[test]
    fn identity_map_is_not_rootless() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("0 1001 1\n1 100000 65536\n"));
        assert_eq!(outside_of_root("0 1001 1\n1 100000 65536\n"), Some(1001));
        assert_eq!(outside_of_root("1 100000 65536\n"), None);
    }
}
