//! Rootless kiln: an ordinary user's kiln joins a user and mount namespace
//! where it is root over the user's subordinate IDs (the mapping and the
//! namespaces' side live in `kiln_runtime::rootless`).
//!
//! One namespace serves all of a user's kilns, held by a pause process
//! (as podman's): the first kiln starts it (kiln again, asked to pause),
//! waits for it to stop after its `unshare`, installs the ID mapping (only
//! a process outside may) and continues it. Every kiln then joins it with
//! `setns` at the start of `main`, while still single-threaded as the
//! kernel requires, and goes on as itself: no second process, so signals,
//! the terminal and the exit status are what they are for root, and a
//! container one kiln started is within reach of the next.

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;
use kiln_runtime::rootless::{self, Mappings, PAUSE_ENV};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Commands that touch neither the store nor the runtime, run as they are.
const UNPRIVILEGED: [&str; 5] = ["version", "check", "debug", "context", "help"];

/// Global flags that take a value as the next argument.
const VALUED_GLOBALS: [&str; 2] = ["--root", "--config"];

/// Enters the rootless namespace when this process must: as an ordinary
/// user, for a command that needs root (then `None`: go on as kiln, root
/// inside). `Some(exit code)` when this process is the pause process, or
/// the namespace cannot be had.
pub fn maybe_enter(args: &[OsString]) -> Option<ExitCode> {
    if std::env::var_os(PAUSE_ENV).is_some() {
        return match rootless::pause() {
            Ok(never) => match never {},
            Err(e) => Some(fail(&e.into())),
        };
    }
    if nix::unistd::geteuid().is_root() || !needs_root(args.get(1..).unwrap_or_default()) {
        return None;
    }
    enter().err().map(|e| fail(&e))
}

fn fail(err: &anyhow::Error) -> ExitCode {
    crate::error_text::print(err);
    ExitCode::from(125)
}

/// Whether the command line names a command that needs the namespace.
fn needs_root(args: &[OsString]) -> bool {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(text) = arg.to_str() else {
            return true;
        };
        if VALUED_GLOBALS.contains(&text) {
            rest.next();
        } else if matches!(text, "--help" | "-h" | "--version" | "-V") {
            return false;
        } else if !text.starts_with('-') {
            return !UNPRIVILEGED.contains(&text);
        }
    }
    false
}

/// The store's default: `/var/lib/kiln` for root, [`default_root`] for
/// an ordinary user.
pub fn store_default() -> PathBuf {
    let system = PathBuf::from("/var/lib/kiln");
    match nix::unistd::geteuid().is_root() {
        true => system,
        false => default_root().unwrap_or(system),
    }
}

/// The store of an ordinary user's kiln: `$XDG_DATA_HOME/kiln`, else
/// `~/.local/share/kiln`.
pub fn default_root() -> Option<PathBuf> {
    // The XDG spec's rule: a relative path is to be ignored.
    let usable = |v: OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").and_then(usable) {
        return Some(data.join("kiln"));
    }
    let home = std::env::var_os("HOME").and_then(usable)?;
    Some(home.join(".local/share/kiln"))
}

/// Joins the user's namespace (made first if need be). Call while
/// single-threaded: at the start of `main`.
fn enter() -> anyhow::Result<()> {
    let mappings = Mappings::for_current_user();
    if mappings.is_single() {
        warn_single();
    }
    // Computed before joining, where the user is still who they are. The
    // environment is below a --root flag and above the default, so this
    // changes the default only.
    let root = match std::env::var_os("KILN_ROOT") {
        Some(_) => None,
        None => Some(
            default_root()
                .context("rootless: neither XDG_DATA_HOME nor HOME is set; give --root")?,
        ),
    };
    let pause = pause_process(&mappings)?;
    rootless::join(pause)?;
    if let Some(root) = root {
        // Single-threaded still: the environment is this thread's alone.
        std::env::set_var("KILN_ROOT", root);
    }
    Ok(())
}

fn warn_single() {
    let uid = nix::unistd::getuid().as_raw();
    let user = rootless::user_name(uid).unwrap_or_else(|| uid.to_string());
    eprintln!(
        "kiln: warning: rootless: {user} has no subordinate IDs in /etc/subuid and /etc/subgid; \
         only your own ID is mapped (to root), so every file in the images built here belongs \
         to root and no other owner can be set"
    );
}

/// The user's pause process: the running one, else a new one. Under a
/// lock, so that kilns starting at once make one namespace.
fn pause_process(mappings: &Mappings) -> anyhow::Result<Pid> {
    let dir = rootless::runtime_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("rootless: creating {}", dir.display()))?;
    // In /tmp another user may have made it first.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(&dir)
        .with_context(|| format!("rootless: reading {}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != nix::unistd::getuid().as_raw() || meta.mode() & 0o077 != 0 {
        anyhow::bail!(
            "rootless: {} is not a directory of yours that only you can use",
            dir.display()
        );
    }
    let lock_path = dir.join("pause.lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("rootless: opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("rootless: locking {}", lock_path.display()))?;
    let file = rootless::pause_file();
    if let Some(pid) = rootless::live_pause(&file) {
        return Ok(pid);
    }
    let pid = start_pause(mappings)?;
    let tmp = dir.join("pause.pid.tmp");
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, &file))
        .with_context(|| format!("rootless: writing {}", file.display()))?;
    Ok(pid)
}

/// Starts the pause process, maps its namespace and continues it.
fn start_pause(mappings: &Mappings) -> anyhow::Result<Pid> {
    let mut child = Command::new("/proc/self/exe")
        .arg0("kiln-pause")
        .env(PAUSE_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Read only if it fails to start (why: e.g. a seccomp profile
        // refusing the user namespace); closed once it runs.
        .stderr(Stdio::piped())
        // Out of the terminal's process group: Ctrl-C is not for it.
        .process_group(0)
        .current_dir("/")
        .spawn()
        .context("rootless: starting the pause process")?;
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pause pid")?);
    let stopped = waitpid(pid, Some(WaitPidFlag::WUNTRACED))?;
    let stderr = child.stderr.take();
    if !matches!(stopped, WaitStatus::Stopped(_, _)) {
        let mut said = String::new();
        if let Some(mut pipe) = stderr {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut said);
        }
        let said = said.trim().trim_start_matches("kiln: error: ");
        anyhow::bail!("rootless: the pause process ended before its mapping ({stopped:?}): {said}");
    }
    if let Err(e) = mappings.install(pid) {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(e.into());
    }
    kill(pid, Signal::SIGCONT).context("rootless: continuing the pause process")?;
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn store_and_runtime_commands_need_the_namespace() {
        assert!(needs_root(&args(&["build", "."])));
        assert!(needs_root(&args(&["--root", "version", "run", "x"])));
        assert!(needs_root(&args(&["--debug", "images"])));
        assert!(!needs_root(&args(&["version"])));
        assert!(!needs_root(&args(&["--config", "c", "check"])));
        assert!(!needs_root(&args(&["--help"])));
        assert!(!needs_root(&args(&[])));
    }
}
