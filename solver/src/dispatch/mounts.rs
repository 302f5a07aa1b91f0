//! `RUN --mount=…` resolved at dispatch time: words expanded with the
//! step's variables, targets made absolute against WORKDIR, `from=` named
//! as a stage, an image or the context. What a mount adds to the step's
//! cache key is decided here too: a bind mount's content counts (a change
//! to the mounted files must re-run the step, as in BuildKit); a cache
//! mount's content, a secret's value and an ssh socket never do.

use std::path::PathBuf;

use kiln_cache::units::UnitsError;
use kiln_cache::{ImageEntry, Store, StoreError};
use kiln_parser::ast::{CacheSharing, Mount};
use kiln_parser::expand::ExpandError;

use crate::cachekey::KeyBuilder;
use crate::dispatch::absolute;
use crate::plan::{stage_ref, Stage};
use crate::BuildError;

/// Where a bind or cache mount's files come from.
#[derive(Debug, Clone)]
pub enum MountFrom {
    /// The build context (bind: the default); `source` is a context path.
    Context,
    Stage(usize),
    Image(Box<ImageEntry>),
    /// A cache mount with no `from`: starts empty.
    Empty,
}

/// One resolved `--mount`.
#[derive(Debug, Clone)]
pub enum RunMount {
    Bind {
        target: String,
        from: MountFrom,
        /// Path inside `from`, relative, cleaned (empty for the root).
        source: PathBuf,
        readwrite: bool,
    },
    Cache {
        target: String,
        id: String,
        sharing: CacheSharing,
        readonly: bool,
        from: MountFrom,
        source: PathBuf,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        target: String,
        /// Bytes; `None` is the kernel default (half of RAM).
        size: Option<u64>,
    },
    Secret {
        id: String,
        /// `None` with `env` set: only the variable, no file.
        target: Option<String>,
        env: Option<String>,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Ssh {
        id: String,
        target: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl RunMount {
    /// Where the mount appears in the container.
    pub fn target(&self) -> Option<&str> {
        match self {
            RunMount::Bind { target, .. }
            | RunMount::Cache { target, .. }
            | RunMount::Tmpfs { target, .. }
            | RunMount::Ssh { target, .. } => Some(target),
            RunMount::Secret { target, .. } => target.as_deref(),
        }
    }
}

/// Content digests of a context path: `(entry path, mode+digest)` pairs.
pub type ContextDigests<'a> = dyn Fn(&str) -> Result<Vec<(String, String)>, BuildError> + 'a;

/// A `--mount` that cannot be resolved. It becomes part of the step's
/// error line, so causes are part of the text.
#[derive(Debug, thiserror::Error)]
pub enum MountSpecError {
    #[error("invalid {what} {text:?}: expected an octal mode")]
    Mode { what: &'static str, text: String },
    #[error("invalid {what} {text:?}: expected a number")]
    Number { what: &'static str, text: String },
    #[error("mount source {0:?} is outside")]
    Outside(String),
    #[error("stage {0:?} was not dispatched")]
    NotDispatched(String),
    #[error("--mount from={name}: {cause}")]
    Image { name: String, cause: StoreError },
    #[error("tmpfs size {size:?}: {cause}")]
    TmpfsSize { size: String, cause: UnitsError },
    #[error("secret mount needs an id or a target")]
    SecretId,
    #[error("{0}")]
    Expand(ExpandError),
    #[error("{0}")]
    Context(Box<BuildError>),
}

/// What resolving needs from dispatch.
pub struct MountScope<'a> {
    pub store: &'a Store,
    pub stages: &'a [Stage],
    pub stage_index: usize,
    /// Final keys of dispatched stages, by index.
    pub stage_key: &'a dyn Fn(usize) -> Option<String>,
    pub context_digests: &'a ContextDigests<'a>,
    pub expand: &'a dyn Fn(&str) -> Result<String, ExpandError>,
    pub cwd: &'a str,
    /// `--build-context` names that stand for images.
    pub named_image: &'a dyn Fn(&str) -> Option<String>,
}

fn octal(text: Option<&str>, default: u32, what: &'static str) -> Result<u32, MountSpecError> {
    match text {
        None => Ok(default),
        Some(t) => {
            u32::from_str_radix(t.trim_start_matches("0o"), 8).map_err(|_| MountSpecError::Mode {
                what,
                text: t.to_string(),
            })
        }
    }
}

fn number(text: Option<&str>, what: &'static str) -> Result<u32, MountSpecError> {
    match text {
        None => Ok(0),
        Some(t) => t.parse().map_err(|_| MountSpecError::Number {
            what,
            text: t.to_string(),
        }),
    }
}

/// A relative `source=` inside a stage, image or the context; `..` may not
/// climb out.
fn source_path(source: Option<&str>) -> Result<PathBuf, MountSpecError> {
    let s = source.unwrap_or("/");
    crate::context::select::clean(s).ok_or_else(|| MountSpecError::Outside(s.to_string()))
}

impl MountScope<'_> {
    fn word(&self, w: &Option<String>) -> Result<Option<String>, MountSpecError> {
        w.as_deref()
            .map(|w| (self.expand)(w).map_err(MountSpecError::Expand))
            .transpose()
    }

    /// An empty target is the working directory (BuildKit's default).
    fn target(&self, t: &str) -> Result<String, MountSpecError> {
        let t = (self.expand)(t).map_err(MountSpecError::Expand)?;
        Ok(absolute(self.cwd, &t))
    }

    fn from(
        &self,
        from: Option<&str>,
        k: &mut KeyBuilder,
        n: usize,
    ) -> Result<MountFrom, MountSpecError> {
        let Some(name) = from else {
            return Ok(MountFrom::Context);
        };
        let named = (self.named_image)(name);
        let name = named.as_deref().unwrap_or(name);
        if let Some(i) = stage_ref(self.stages, self.stage_index, name).filter(|_| named.is_none())
        {
            let key = (self.stage_key)(i)
                .ok_or_else(|| MountSpecError::NotDispatched(name.to_string()))?;
            k.add(format!("mount{n}:from-stage"), key);
            return Ok(MountFrom::Stage(i));
        }
        let entry = self
            .store
            .resolve_image(name)
            .map_err(|cause| MountSpecError::Image {
                name: name.to_string(),
                cause,
            })?;
        k.add(
            format!("mount{n}:from-image"),
            entry.image.manifest.digest.to_string(),
        );
        Ok(MountFrom::Image(Box::new(entry)))
    }

    /// Resolves mount number `n`, adding its key ingredients to `k`.
    pub fn resolve(
        &self,
        m: &Mount,
        n: usize,
        k: &mut KeyBuilder,
    ) -> Result<RunMount, MountSpecError> {
        let mount = match m {
            Mount::Bind(b) => {
                let target = self.target(&b.target)?;
                let from_word = self.word(&b.from)?;
                let source = source_path(self.word(&b.source)?.as_deref())?;
                let from = self.from(from_word.as_deref(), k, n)?;
                k.add(
                    format!("mount{n}:bind"),
                    format!("{target} rw={}", b.readwrite),
                );
                k.add(format!("mount{n}:source"), source.display().to_string());
                if matches!(from, MountFrom::Context) {
                    let text = source.display().to_string();
                    let digests = (self.context_digests)(if text.is_empty() { "." } else { &text })
                        .map_err(|e| MountSpecError::Context(Box::new(e)))?;
                    for (path, digest) in digests {
                        k.add(format!("mount{n}:file:{path}"), digest);
                    }
                }
                RunMount::Bind {
                    target,
                    from,
                    source,
                    readwrite: b.readwrite,
                }
            }
            Mount::Cache(c) => {
                let target = self.target(&c.target)?;
                let id = self
                    .word(&c.id)?
                    .filter(|i| !i.is_empty())
                    .unwrap_or(target.clone());
                let from_word = self.word(&c.from)?;
                // A cache mount's content is never an input: only where it is.
                k.add(format!("mount{n}:cache"), format!("{target} id={id}"));
                let from = match from_word.as_deref() {
                    None => MountFrom::Empty,
                    Some(_) => self.from(from_word.as_deref(), k, n)?,
                };
                RunMount::Cache {
                    target,
                    id,
                    sharing: c.sharing,
                    readonly: c.readonly,
                    from,
                    source: source_path(self.word(&c.source)?.as_deref())?,
                    mode: octal(self.word(&c.mode)?.as_deref(), 0o755, "mode")?,
                    uid: number(self.word(&c.uid)?.as_deref(), "uid")?,
                    gid: number(self.word(&c.gid)?.as_deref(), "gid")?,
                }
            }
            Mount::Tmpfs(t) => {
                let target = self.target(&t.target)?;
                let size = self
                    .word(&t.size)?
                    .map(|s| {
                        kiln_cache::units::parse_ram_bytes(&s).map_err(|cause| {
                            MountSpecError::TmpfsSize {
                                size: s.clone(),
                                cause,
                            }
                        })
                    })
                    .transpose()?;
                k.add(format!("mount{n}:tmpfs"), target.clone());
                RunMount::Tmpfs { target, size }
            }
            Mount::Secret(s) => self.secret(s, n, k)?,
            Mount::Ssh(s) => {
                let id = self.word(&s.id)?.unwrap_or_else(|| "default".into());
                let target = match self.word(&s.target)? {
                    Some(t) => absolute(self.cwd, &t),
                    None => format!("/run/buildkit/ssh_agent.{n}"),
                };
                k.add(format!("mount{n}:ssh"), format!("{target} id={id}"));
                RunMount::Ssh {
                    id,
                    target,
                    required: s.required,
                    mode: octal(self.word(&s.mode)?.as_deref(), 0o600, "mode")?,
                    uid: number(self.word(&s.uid)?.as_deref(), "uid")?,
                    gid: number(self.word(&s.gid)?.as_deref(), "gid")?,
                }
            }
        };
        Ok(mount)
    }

    fn secret(
        &self,
        s: &kiln_parser::ast::SecretMount,
        n: usize,
        k: &mut KeyBuilder,
    ) -> Result<RunMount, MountSpecError> {
        let target = self.word(&s.target)?.map(|t| absolute(self.cwd, &t));
        let env = self.word(&s.env)?;
        let id = match self.word(&s.id)? {
            Some(id) => id,
            // BuildKit: the id defaults to the target's base name.
            None => target
                .as_deref()
                .and_then(|t| t.rsplit('/').next())
                .filter(|b| !b.is_empty())
                .map(str::to_string)
                .ok_or(MountSpecError::SecretId)?,
        };
        let target = match (&target, &env) {
            (None, None) => Some(format!("/run/secrets/{id}")),
            _ => target,
        };
        // Only the name and where it goes; the value never enters a key.
        k.add(
            format!("mount{n}:secret"),
            format!(
                "id={id} target={} env={}",
                target.as_deref().unwrap_or(""),
                env.as_deref().unwrap_or("")
            ),
        );
        Ok(RunMount::Secret {
            id,
            target,
            env,
            required: s.required,
            mode: octal(self.word(&s.mode)?.as_deref(), 0o400, "mode")?,
            uid: number(self.word(&s.uid)?.as_deref(), "uid")?,
            gid: number(self.word(&s.gid)?.as_deref(), "gid")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_mount_words_keep_their_messages() {
        let mode = octal(Some("9"), 0o755, "mode").unwrap_err();
        assert_eq!(
            mode.to_string(),
            "invalid mode \"9\": expected an octal mode"
        );
        let uid = number(Some("x"), "uid").unwrap_err();
        assert_eq!(uid.to_string(), "invalid uid \"x\": expected a number");
        assert!(matches!(
            source_path(Some("../up")),
            Err(MountSpecError::Outside(s)) if s == "../up"
        ));
        assert_eq!(octal(Some("0o700"), 0, "mode").unwrap(), 0o700);
    }
}
