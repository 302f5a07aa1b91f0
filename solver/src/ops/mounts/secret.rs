//! `type=secret` and `type=ssh`. A secret's value is read when the step
//! runs, written to a private directory in memory (`/dev/shm`, never the
//! store), bind-mounted read-only and removed after the step; with `env=`
//! it is only in the process environment, which the runtime hands over a
//! socket, never to disk. It reaches no layer, key, history or log.
//! An ssh mount binds the agent's socket (`--ssh default` is
//! `$SSH_AUTH_SOCK`) and points `SSH_AUTH_SOCK` at it, as BuildKit does.

use std::fs;
use std::os::unix::fs::{lchown, DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::dispatch::RunMount;

use super::{io, MountEnv, MountError, Prepared};

/// A `--secret` flag that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretFlagError {
    #[error("--secret {0:?}: expected id=ID,src=FILE or id=ID,env=VAR")]
    Syntax(String),
    #[error("--secret {0:?}: id= is required")]
    NoId(String),
}

/// Where `--secret id=X` takes its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

impl SecretSource {
    /// `id=X,src=FILE`, `id=X,env=VAR`, `id=X` (the variable X), as
    /// `docker buildx build --secret` takes them.
    pub fn parse_flag(flag: &str) -> Result<(String, SecretSource), SecretFlagError> {
        let mut id = None;
        let mut source = None;
        for part in flag.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => source = Some(SecretSource::File(v.into())),
                Some(("env", v)) => source = Some(SecretSource::Env(v.into())),
                Some(("type", "file" | "env")) => {}
                _ => return Err(SecretFlagError::Syntax(flag.to_string())),
            }
        }
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| SecretFlagError::NoId(flag.to_string()))?;
        let source = source.unwrap_or_else(|| SecretSource::Env(id.clone()));
        Ok((id, source))
    }

    /// The value, or `None` when the file or variable does not exist.
    fn read(&self) -> Option<Vec<u8>> {
        match self {
            SecretSource::File(p) => fs::read(p).ok(),
            SecretSource::Env(v) => std::env::var_os(v).map(|s| {
                use std::os::unix::ffi::OsStrExt;
                s.as_bytes().to_vec()
            }),
        }
    }
}

/// A directory in memory for one step's secret files; removed on drop.
#[derive(Debug)]
pub struct SecretDir(PathBuf);

impl SecretDir {
    fn new() -> Result<SecretDir, MountError> {
        let base = match Path::new("/dev/shm").is_dir() {
            true => PathBuf::from("/dev/shm"),
            false => std::env::temp_dir(),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("kiln-secrets-{}-{nanos}", std::process::id());
        let path = base.join(name);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(io(path.display()))?;
        Ok(SecretDir(path))
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(super) fn mount(
    env: &MountEnv<'_>,
    m: &RunMount,
    out: &mut Prepared,
) -> Result<(), MountError> {
    let RunMount::Secret {
        id,
        target,
        env: var,
        required,
        mode,
        uid,
        gid,
    } = m
    else {
        return Ok(());
    };
    let Some(value) = env.inputs.secrets.get(id).and_then(SecretSource::read) else {
        // BuildKit skips a missing secret unless it is `required`.
        return match required {
            true => Err(MountError::SecretMissing(id.clone())),
            false => Ok(()),
        };
    };
    if let Some(var) = var {
        out.env
            .push(format!("{var}={}", String::from_utf8_lossy(&value)));
    }
    let Some(target) = target else {
        return Ok(());
    };
    if out.secrets.is_none() {
        out.secrets = Some(SecretDir::new()?);
    }
    let dir = out
        .secrets
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or_default();
    let file = dir.join(format!("s{}", out.binds.len()));
    fs::write(&file, &value).map_err(io(file.display()))?;
    lchown(&file, Some(*uid), Some(*gid)).map_err(io(file.display()))?;
    fs::set_permissions(&file, fs::Permissions::from_mode(*mode)).map_err(io(file.display()))?;
    out.bind(file, target, true);
    Ok(())
}

pub(super) fn ssh(env: &MountEnv<'_>, m: &RunMount, out: &mut Prepared) -> Result<(), MountError> {
    let RunMount::Ssh {
        id,
        target,
        required,
        ..
    } = m
    else {
        return Ok(());
    };
    let Some(socket) = env.inputs.ssh.get(id).filter(|p| p.exists()) else {
        return match required {
            true => Err(MountError::SshMissing(id.clone())),
            false => Ok(()),
        };
    };
    if !out.env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
        out.env.push(format!("SSH_AUTH_SOCK={target}"));
    }
    // The socket is bound as it is: the agent decides who may talk to it.
    out.bind(socket.clone(), target, false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_flags_name_what_is_wrong() {
        let (id, source) = SecretSource::parse_flag("id=k,src=/f").unwrap();
        assert_eq!(
            (id.as_str(), source),
            ("k", SecretSource::File("/f".into()))
        );
        let no_id = SecretSource::parse_flag("src=/f").unwrap_err();
        assert_eq!(no_id.to_string(), "--secret \"src=/f\": id= is required");
        assert!(matches!(
            SecretSource::parse_flag("id=k,mode=1"),
            Err(SecretFlagError::Syntax(_))
        ));
    }
}
