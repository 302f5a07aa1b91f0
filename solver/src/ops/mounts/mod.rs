//! `RUN --mount`s made ready for one container: each becomes a bind, a
//! tmpfs or an environment variable of the runtime's [`Config`], and what
//! it needed (a lock, a secret file, a materialized stage) lives as long
//! as the returned [`Prepared`].
//!
//! [`Config`]: kiln_runtime::spec::Config

pub mod bind;
pub mod cache;
mod filtered;
pub mod secret;
pub mod tree;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kiln_cache::Store;
use kiln_runtime::spec::Bind;

use crate::dispatch::{MountFrom, RunMount};

use super::layered::Layered;

pub use secret::SecretSource;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The context could not be walked for a filtered bind mount.
    #[error("{}: {cause}", root.display())]
    Walk {
        root: std::path::PathBuf,
        cause: crate::context::ContextError,
    },
    #[error(transparent)]
    Store(#[from] kiln_cache::StoreError),
    #[error("secret {0:?}: not provided (kiln build --secret id={0},src=FILE)")]
    SecretMissing(String),
    #[error("ssh agent {0:?}: not provided (kiln build --ssh {0}[=SOCKET])")]
    SshMissing(String),
    #[error("mount source {0:?} is outside the build context")]
    Outside(String),
    #[error("mount source {0:?}: not found")]
    NotFound(String),
    #[error("mount from a stage that did not run")]
    NoStage,
}

pub(crate) fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> MountError {
    let what = what.to_string();
    move |source| MountError::Io { what, source }
}

/// What a build supplies to its mounts besides the Dockerfile.
#[derive(Debug, Default)]
pub struct MountInputs {
    /// `--secret id=…`.
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--ssh ID=SOCKET` (`default` from `$SSH_AUTH_SOCK`).
    pub ssh: BTreeMap<String, PathBuf>,
    /// `--no-cache-mounts`: each cache mount starts empty once in this build.
    pub no_cache_mounts: bool,
    /// Cache ids already emptied in this build.
    pub emptied: Mutex<HashSet<String>>,
    /// The build's ignore file: a bind of the context shows what the
    /// build sends, as BuildKit's does (ignored files are not there).
    pub context_ignore: kiln_parser::ignore::Matcher,
}

/// Where one step's mounts read from.
pub struct MountEnv<'a> {
    pub store: &'a Store,
    pub context: &'a Path,
    /// The layers of a `from=` stage or image.
    pub layers_of: &'a dyn Fn(&MountFrom) -> Option<Layered>,
    /// A private directory removed after the step.
    pub scratch: &'a Path,
    pub inputs: &'a MountInputs,
}

/// The runtime's share of a step's mounts, and what keeps them valid.
#[derive(Debug, Default)]
pub struct Prepared {
    pub binds: Vec<Bind>,
    /// `DEST[:OPTIONS]`, as `Config::tmpfs` takes them.
    pub tmpfs: Vec<String>,
    pub env: Vec<String>,
    /// Every mount point, for removing the stubs they leave in the layer.
    pub targets: Vec<String>,
    locks: Vec<std::fs::File>,
    secrets: Option<secret::SecretDir>,
}

/// Makes every mount of a step ready, in order.
pub fn prepare(mounts: &[RunMount], env: &MountEnv<'_>) -> Result<Prepared, MountError> {
    let mut out = Prepared::default();
    for (n, m) in mounts.iter().enumerate() {
        match m {
            RunMount::Bind {
                target,
                from,
                source,
                readwrite,
            } => {
                let dir = env.scratch.join(format!("bind{n}"));
                let path = bind::source(env, from, source, *readwrite, &dir)?;
                out.bind(path, target, !readwrite);
            }
            RunMount::Cache {
                target, readonly, ..
            } => {
                let (path, lock) = cache::acquire(env, m, n)?;
                out.locks.extend(lock);
                out.bind(path, target, *readonly);
            }
            RunMount::Tmpfs { target, size } => {
                // BuildKit's RUN tmpfs allows exec (tools run from it).
                let mut spec = format!("{target}:exec");
                if let Some(s) = size {
                    spec.push_str(&format!(",size={s}"));
                }
                out.tmpfs.push(spec);
                out.targets.push(target.clone());
            }
            RunMount::Secret { .. } => secret::mount(env, m, &mut out)?,
            RunMount::Ssh { .. } => secret::ssh(env, m, &mut out)?,
        }
    }
    Ok(out)
}

impl Prepared {
    fn bind(&mut self, source: PathBuf, target: &str, read_only: bool) {
        self.binds.push(Bind {
            source,
            destination: target.to_string(),
            read_only,
        });
        self.targets.push(target.to_string());
    }
}
