//! `--build-context NAME=…` (buildx): a name that `FROM NAME`,
//! `COPY --from=NAME` and `RUN --mount=from=NAME` read instead of a stage
//! or an image of that name. A directory or a git URL (made into a
//! one-layer image, see `local`), `docker-image://REF` (an image, from the
//! store or pulled), or `oci-layout://PATH[@TAG]` (loaded into the store
//! first). By the time dispatch sees them, all are images.

mod local;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use kiln_cache::Store;

use crate::source::git::{self, GitRef};

/// What a named context stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    Dir(PathBuf),
    /// A git repository (`https://…/r.git#ref:subdir`, `git@…`).
    Git(String),
    /// An image reference or ID the store resolves.
    Image(String),
    /// An OCI layout directory and the tag to take from it.
    OciLayout(PathBuf, Option<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum NamedError {
    #[error("--build-context {0:?}: expected NAME=DIR|GIT-URL|docker-image://REF|oci-layout://PATH[@TAG]")]
    Syntax(String),
    #[error("--build-context {name}: {path} is not a directory")]
    NotDir { name: String, path: String },
    #[error("--build-context {name}: loading the OCI layout: {cause}")]
    Load { name: String, cause: LoadError },
    #[error("--build-context {name}: no image tagged {tag:?} in the OCI layout")]
    NoTag { name: String, tag: String },
}

/// Why a named context could not be made into an image. The build shows
/// a named context's error by its text alone, so each cause is part of
/// the text, held typed rather than as a source (which would repeat it).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {cause}", path.display())]
    File { path: PathBuf, cause: io::Error },
    #[error("{0}")]
    Io(io::Error),
    #[error("{0}")]
    Archive(kiln_cache::archive::ArchiveError),
    #[error("no image in the layout")]
    Empty,
    #[error("{0}")]
    Git(git::GitError),
    #[error("{0}")]
    Ignore(kiln_parser::ignore::IgnoreError),
    #[error("{0}")]
    Context(crate::context::ContextError),
    #[error("{0}")]
    Store(kiln_cache::StoreError),
    #[error("{0}")]
    Build(Box<crate::BuildError>),
}

/// Parses one `--build-context` flag.
pub fn parse_flag(flag: &str) -> Result<(String, NamedContext), NamedError> {
    let (name, value) = flag
        .split_once('=')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| NamedError::Syntax(flag.to_string()))?;
    let ctx = if let Some(r) = value.strip_prefix("docker-image://") {
        NamedContext::Image(r.to_string())
    } else if let Some(p) = value.strip_prefix("oci-layout://") {
        match p.rsplit_once('@') {
            Some((path, tag)) if !tag.contains('/') => {
                NamedContext::OciLayout(path.into(), Some(tag.to_string()))
            }
            _ => NamedContext::OciLayout(p.into(), None),
        }
    } else if GitRef::parse(value).is_some() {
        NamedContext::Git(value.to_string())
    } else {
        let path = PathBuf::from(value);
        if !path.is_dir() {
            return Err(NamedError::NotDir {
                name: name.to_string(),
                path: value.to_string(),
            });
        }
        NamedContext::Dir(path)
    };
    Ok((name.to_string(), ctx))
}

/// An OCI layout loaded into `store`: the image ID to build from.
pub fn load_layout(
    store: &Store,
    name: &str,
    path: &Path,
    tag: Option<&str>,
) -> Result<String, NamedError> {
    let fail = load_failed(name);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_dir_all(".", path).map_err(|cause| {
        fail(LoadError::File {
            path: path.to_path_buf(),
            cause,
        })
    })?;
    let bytes = builder.into_inner().map_err(|e| fail(LoadError::Io(e)))?;
    let images = kiln_cache::archive::load(store, std::io::Cursor::new(bytes))
        .map_err(|e| fail(LoadError::Archive(e)))?;
    let found = match tag {
        None => images.first(),
        Some(t) => images
            .iter()
            .find(|i| i.names.iter().any(|n| n.tag() == Some(t))),
    };
    match (found, tag) {
        (Some(i), _) => Ok(i.id.to_string()),
        (None, Some(t)) => Err(NamedError::NoTag {
            name: name.to_string(),
            tag: t.to_string(),
        }),
        (None, None) => Err(fail(LoadError::Empty)),
    }
}

/// The error for named context `name` failing with a cause.
pub(crate) fn load_failed(name: &str) -> impl Fn(LoadError) -> NamedError + '_ {
    move |cause| NamedError::Load {
        name: name.to_string(),
        cause,
    }
}

/// The named contexts with every OCI layout, directory and git
/// repository loaded into `store` (an image ID in its place); `arch` is
/// the architecture a directory's image is made for.
pub fn load_all(
    store: &Store,
    named: &BTreeMap<String, NamedContext>,
    arch: &str,
) -> Result<BTreeMap<String, NamedContext>, NamedError> {
    named
        .iter()
        .map(|(name, ctx)| {
            let ctx = match ctx {
                NamedContext::OciLayout(p, tag) => {
                    NamedContext::Image(load_layout(store, name, p, tag.as_deref())?)
                }
                NamedContext::Dir(dir) => {
                    NamedContext::Image(local::import_dir(store, name, dir, arch, true)?)
                }
                NamedContext::Git(url) => NamedContext::Image(import_git(store, name, url, arch)?),
                NamedContext::Image(r) => NamedContext::Image(r.clone()),
            };
            Ok((name.clone(), ctx))
        })
        .collect()
}

/// A git context checked out (without `.git`, as a git build context is)
/// and imported as a directory.
fn import_git(store: &Store, name: &str, url: &str, arch: &str) -> Result<String, NamedError> {
    let fail = load_failed(name);
    let r = GitRef::parse(url).ok_or_else(|| NamedError::Syntax(format!("{name}={url}")))?;
    let temp = tempfile::Builder::new()
        .prefix("kiln-named-context-")
        .tempdir()
        .map_err(|e| fail(LoadError::Io(e)))?;
    let git_failed = |e| fail(LoadError::Git(e));
    let commit = git::resolve(&r).map_err(git_failed)?;
    let dir = git::checkout(&r, &commit, temp.path(), false).map_err(git_failed)?;
    local::import_dir(store, name, &dir, arch, false)
}

/// Base image names to pull: a name a context stands for is replaced by
/// its `docker-image://` reference, or dropped for other kinds.
pub fn pull_names<V>(
    names: BTreeMap<String, V>,
    named: &BTreeMap<String, NamedContext>,
) -> BTreeMap<String, V> {
    names
        .into_iter()
        .filter_map(|(n, v)| match named.get(&n) {
            None => Some((n, v)),
            Some(NamedContext::Image(r)) => Some((r.clone(), v)),
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_of_every_kind() {
        let (n, c) = parse_flag("base=docker-image://alpine:3.20").unwrap();
        assert_eq!(
            (n.as_str(), c),
            ("base", NamedContext::Image("alpine:3.20".into()))
        );
        let (_, c) = parse_flag("b=oci-layout:///x/l@v1").unwrap();
        assert_eq!(c, NamedContext::OciLayout("/x/l".into(), Some("v1".into())));
        let (_, c) = parse_flag("d=/").unwrap();
        assert_eq!(c, NamedContext::Dir("/".into()));
        assert!(parse_flag("nothing").is_err());
        assert!(parse_flag("d=/no/such/dir").is_err());
    }

    #[test]
    fn an_unreadable_layout_names_the_context_and_the_path() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let e = load_layout(&store, "lay", Path::new("/no/such/layout"), None).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("--build-context lay: loading the OCI layout: /no/such/layout: "),
            "{text}"
        );
        assert!(matches!(
            e,
            NamedError::Load {
                cause: LoadError::File { .. },
                ..
            }
        ));
    }
}
