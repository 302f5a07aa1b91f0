//! RUN: the step's command in a container whose root is an overlay of the
//! parent's layers with a fresh upper directory; that upper becomes the
//! new layer. Output lines stream to progress as they come.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use kiln_parser::ast::Network;
use kiln_runtime::spec::{Bind, Config, Network as NetMode};
use kiln_runtime::{Request, Rootfs, Stdio};

use crate::cancel::Cancel;
use crate::dispatch::RunOp;

use super::layered::Layered;
use super::mounts::Prepared;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("preparing the step: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Runtime(#[from] kiln_runtime::Error),
    #[error(transparent)]
    Container(#[from] kiln_runtime::container::Error),
    #[error("making the working directory: {0}")]
    Workdir(#[from] super::file::FileError),
    #[error("cancelled")]
    Cancelled,
}

/// What one RUN needs besides its op.
pub struct ExecRequest<'a> {
    pub id: String,
    /// Layer directories of the parent, top first.
    pub lowers: Vec<PathBuf>,
    pub upper: &'a Path,
    pub work: &'a Path,
    /// A private scratch directory (scripts, an empty lower for scratch).
    pub scratch: &'a Path,
    pub cancel: &'a Cancel,
    /// The step's `--mount`s, ready.
    pub mounts: &'a Prepared,
}

/// Runs the command; returns its exit code (128+N for signal N).
pub fn run(
    op: &RunOp,
    req: ExecRequest<'_>,
    mut on_line: impl FnMut(String) + Send,
) -> Result<u8, ExecError> {
    let mut lowers = req.lowers.clone();
    if lowers.is_empty() {
        let empty = req.scratch.join("empty");
        fs::create_dir_all(&empty)?;
        lowers.push(empty);
    }
    // Volatile: the step's upper becomes a layer, and taking it into the
    // store flushes it (a snapshot's syncfs, begun as its files are
    // hashed). Without it the command's end would wait on that flush (the
    // overlay's unmount syncs the upper filesystem) and every copy-up on
    // an fsync. The work directory is the step's own and is thrown away.
    let rootfs = Rootfs::Overlay {
        lowers: lowers.clone(),
        upper: req.upper.to_path_buf(),
        work: req.work.to_path_buf(),
        volatile: true,
    };
    let user = kiln_runtime::resolve_user(&rootfs, &op.user).map_err(kiln_runtime::Error::from)?;
    let below = Layered::new(lowers);
    // BuildKit's executor makes a missing working directory before the
    // command starts: 0755, the step user's, parents too (as WORKDIR does).
    let target = super::file::Target {
        staging: req.upper,
        below: &below,
        names: &below,
    };
    super::file::mkdir(&op.cwd, (user.uid, user.gid), &target)?;
    let mut binds = Vec::new();
    if let Some((name, body)) = &op.script {
        let pipes = req.scratch.join("pipes");
        fs::create_dir_all(&pipes)?;
        let path = pipes.join(name);
        fs::write(&path, body)?;
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        binds.push(Bind {
            source: pipes,
            destination: "/dev/pipes".into(),
            read_only: true,
        });
    }
    binds.extend(req.mounts.binds.iter().cloned());
    let mut env = op.env.clone();
    env.extend(req.mounts.env.iter().cloned());
    let config = Config {
        args: op.args.clone(),
        env,
        cwd: op.cwd.clone(),
        user,
        hostname: Some("buildkitsandbox".into()),
        // Docker's builder runs RUN on its bridge: a namespace of the step's
        // own, outbound through slirp4netns, the host's loopback closed.
        // The host's namespace is an explicit opt-in (`--network host`).
        network: match op.network {
            Network::None => NetMode::None,
            Network::Host => NetMode::Host,
            Network::Default => NetMode::Private,
        },
        binds,
        tmpfs: req.mounts.tmpfs.clone(),
        ..Config::default()
    };
    let spec = config.to_spec(&req.id).map_err(kiln_runtime::Error::from)?;
    let (reader, writer) = std::io::pipe()?;
    let stdout = OwnedFd::from(writer.try_clone()?);
    let stderr = OwnedFd::from(writer);
    let request = Request {
        id: req.id.clone(),
        spec,
        rootfs,
        stdio: Stdio::Fds {
            stdin: None,
            stdout,
            stderr,
        },
    };
    let outcome = std::thread::scope(|s| {
        let lines = s.spawn(move || {
            let mut r = BufReader::new(reader);
            let mut buf = Vec::new();
            while let Ok(n) = r.read_until(b'\n', &mut buf) {
                if n == 0 {
                    break;
                }
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                on_line(line);
                buf.clear();
            }
        });
        let result = start_and_wait(request, op.network == Network::Default, req.cancel);
        let _ = lines.join();
        result
    })?;
    cleanup_mount_stubs(req.upper, &below)?;
    for target in &req.mounts.targets {
        remove_target_stub(req.upper, &below, target)?;
    }
    Ok(outcome)
}

fn start_and_wait(request: Request, private: bool, cancel: &Cancel) -> Result<u8, ExecError> {
    if cancel.is_cancelled() {
        return Err(ExecError::Cancelled);
    }
    // slirp4netns is attached before the command runs, so its first packet
    // finds the way out; it stops when the step ends (dropped here).
    let mut stack = None;
    let mut wire = |pid: u32| -> Result<(), String> {
        let s = kiln_runtime::network::slirp::require(pid, false).map_err(|e| e.to_string())?;
        stack = Some(s);
        Ok(())
    };
    let gate: Option<kiln_runtime::container::Gate> = match private {
        true => Some(&mut wire),
        false => None,
    };
    let running = kiln_runtime::container::start_with(request, gate)?;
    let pid = running.helper_pid();
    if !cancel.register(pid) {
        let _ = running.wait();
        return Err(ExecError::Cancelled);
    }
    let outcome = running.wait();
    cancel.unregister(pid);
    if cancel.is_cancelled() {
        return Err(ExecError::Cancelled);
    }
    Ok(outcome?.exit_code())
}

/// Mount points that stay in a step's layer when the root lacked them:
/// BuildKit's executor removes the stubs of what it binds (`/etc/hosts`,
/// `/etc/resolv.conf`, `--mount` targets), not those runc makes for the
/// spec's `/proc`, `/sys` and `/dev` (directories, 0755, root's).
const KEPT_MOUNT_POINTS: [&str; 3] = ["proc", "sys", "dev"];

/// The runtime creates mount points (`/etc/hosts`, `/proc`, …) in the
/// root. Remove the ones the upper gained that are empty stubs (but
/// [`KEPT_MOUNT_POINTS`]) or unchanged copies of the lower's, then parent
/// directories left holding nothing.
fn cleanup_mount_stubs(upper: &Path, below: &Layered) -> std::io::Result<()> {
    let stubs = [
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "proc",
        "sys",
        "dev",
        "dev/pts",
        "dev/shm",
        "dev/mqueue",
    ];
    for rel in stubs.iter().rev() {
        let path = upper.join(rel);
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        let lower = below.lookup(Path::new(rel));
        let removable = match &lower {
            None if KEPT_MOUNT_POINTS.contains(rel) => false,
            None => (m.is_file() && m.len() == 0) || (m.is_dir() && is_empty_dir(&path)),
            Some((lp, lm)) => same_entry(&path, &m, lp, lm),
        };
        if removable {
            if m.is_dir() {
                fs::remove_dir(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
    }
    for rel in ["etc", "dev"] {
        let path = upper.join(rel);
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        if m.is_dir() && is_empty_dir(&path) {
            if let Some((lp, lm)) = below.lookup(Path::new(rel)) {
                let opaque = kiln_cache::layer::whiteout::is_opaque(&path).unwrap_or(false);
                if !opaque && same_entry(&path, &m, &lp, &lm) {
                    fs::remove_dir(&path)?;
                }
            }
        }
    }
    Ok(())
}

/// A `--mount` target leaves an empty file or directory (and maybe its
/// parents) in the upper; BuildKit's layers do not have them. Walks up
/// from the target, removing each stub the image below did not have, or
/// had identically, until one holds something.
fn remove_target_stub(upper: &Path, below: &Layered, target: &str) -> std::io::Result<()> {
    let mut rel = PathBuf::from(target.trim_start_matches('/'));
    while !rel.as_os_str().is_empty() {
        let path = upper.join(&rel);
        let Ok(m) = fs::symlink_metadata(&path) else {
            break;
        };
        let stub = (m.is_file() && m.len() == 0) || (m.is_dir() && is_empty_dir(&path));
        let opaque = m.is_dir() && kiln_cache::layer::whiteout::is_opaque(&path).unwrap_or(false);
        let removable = stub
            && !opaque
            && match below.lookup(&rel) {
                None => true,
                Some((lp, lm)) => same_entry(&path, &m, &lp, &lm),
            };
        if !removable {
            break;
        }
        match m.is_dir() {
            true => fs::remove_dir(&path)?,
            false => fs::remove_file(&path)?,
        }
        rel.pop();
    }
    Ok(())
}

fn is_empty_dir(p: &Path) -> bool {
    fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

fn same_entry(a: &Path, am: &fs::Metadata, b: &Path, bm: &fs::Metadata) -> bool {
    let meta = am.mode() == bm.mode() && am.uid() == bm.uid() && am.gid() == bm.gid();
    if !meta {
        return false;
    }
    if am.is_dir() {
        return bm.is_dir();
    }
    am.is_file() && bm.is_file() && am.len() == bm.len() && fs::read(a).ok() == fs::read(b).ok()
}
