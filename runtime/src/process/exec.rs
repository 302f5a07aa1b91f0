//! Finding and starting the container's command, with Docker's exit codes:
//! 127 when the command does not exist, 126 when it cannot be executed.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigHandler, Signal};

use serde::{Deserialize, Serialize};

/// Why the command could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecErrorKind {
    /// Not in `$PATH`, or the path does not exist: exit 127.
    NotFound,
    /// Exists but is a directory, lacks `x`, or is no executable format: 126.
    NotExecutable,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("exec: {command:?}: {reason}")]
pub struct ExecError {
    pub kind: ExecErrorKind,
    pub command: String,
    pub reason: String,
}

impl ExecError {
    /// The exit status Docker gives for this failure.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ExecErrorKind::NotFound => 127,
            ExecErrorKind::NotExecutable => 126,
        }
    }

    fn new(kind: ExecErrorKind, command: &str, reason: impl Into<String>) -> ExecError {
        ExecError {
            kind,
            command: command.to_string(),
            reason: reason.into(),
        }
    }
}

/// Default `PATH` when the image sets none (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolves `command` as execvp would, with `path` the container's `PATH`.
pub fn lookup(command: &str, path: Option<&str>) -> Result<PathBuf, ExecError> {
    use ExecErrorKind::*;
    if command.is_empty() {
        return Err(ExecError::new(NotFound, command, "no command specified"));
    }
    if command.contains('/') {
        return check(Path::new(command), command);
    }
    for dir in path.unwrap_or(DEFAULT_PATH).split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(command);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(ExecError::new(
        NotFound,
        command,
        "executable file not found in $PATH",
    ))
}

fn check(path: &Path, command: &str) -> Result<PathBuf, ExecError> {
    use ExecErrorKind::*;
    match std::fs::metadata(path) {
        Err(_) => Err(ExecError::new(
            NotFound,
            command,
            format!("stat {command}: no such file or directory"),
        )),
        Ok(m) if m.is_dir() => Err(ExecError::new(NotExecutable, command, "is a directory")),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => {
            Err(ExecError::new(NotExecutable, command, "permission denied"))
        }
        Ok(_) => Ok(path.to_path_buf()),
    }
}

/// Replaces the process image; returns only on failure.
pub fn execve(path: &Path, args: &[String], env: &[String]) -> ExecError {
    let command = args.first().map(String::as_str).unwrap_or("");
    let to_c = |s: &str| CString::new(s.as_bytes()).unwrap_or_default();
    let cpath = CString::new(path.as_os_str().as_encoded_bytes()).unwrap_or_default();
    let cargs: Vec<CString> = args.iter().map(|a| to_c(a)).collect();
    let cenv: Vec<CString> = env.iter().map(|e| to_c(e)).collect();
    restore_default_signals();
    let err = match nix::unistd::execve(&cpath, &cargs, &cenv) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let kind = match err {
        nix::Error::ENOENT => ExecErrorKind::NotFound,
        _ => ExecErrorKind::NotExecutable,
    };
    ExecError::new(kind, command, err.desc().to_lowercase())
}

/// An ignored signal stays ignored across exec, and Rust's runtime ignores
/// SIGPIPE: without this, `yes | head` in a container never ends, as
/// runc and crun also reset dispositions before exec.
fn restore_default_signals() {
    for sig in nix::sys::signal::Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: SIG_DFL installs no handler; nothing runs on our behalf.
        let _ = unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_in_path_and_reports_docker_codes() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        let path = dir.path().to_str().unwrap();
        assert_eq!(lookup("tool", Some(path)).unwrap(), exe);
        let missing = lookup("nope", Some(path)).unwrap_err();
        assert_eq!(missing.exit_code(), 127);
        assert_eq!(
            missing.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(
            lookup(plain.to_str().unwrap(), None)
                .unwrap_err()
                .exit_code(),
            126
        );
        assert_eq!(lookup(path, None).unwrap_err().exit_code(), 126);
        assert_eq!(lookup("/no/such", None).unwrap_err().exit_code(), 127);
    }
}
