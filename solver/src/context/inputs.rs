//! Where a build's context and Dockerfile come from, as buildx reads
//! them: a directory; `-`, a tar on stdin (plain or compressed, the
//! Dockerfile inside) or a Dockerfile on stdin with an empty context (told
//! apart by a tar header, as docker does); `-f -` beside a directory; a git
//! URL (`https://…/r.git#ref:subdir`, `git@…`, `git://…`, `file://…`),
//! checked out without its `.git`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::ops::archive;
use crate::source::git::{self, GitRef};

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the Dockerfile from stdin: the context is already read from stdin")]
    BothOnStdin,
    #[error("git context: {0}")]
    Git(#[from] git::GitError),
    #[error("unable to prepare context: path {0:?} not found")]
    NotFound(String),
    #[error(transparent)]
    Archive(#[from] archive::ExtractError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InputError + '_ {
    move |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A context ready to build: a directory, and the Dockerfile when it is not
/// `<dir>/Dockerfile`. Temporary files live as long as this.
#[derive(Debug)]
pub struct LoadedContext {
    pub dir: PathBuf,
    pub dockerfile: Option<PathBuf>,
    _temp: Option<tempfile::TempDir>,
}

/// Loads the context `spec` names with the `-f` value `dockerfile`.
pub fn load(
    spec: &str,
    dockerfile: Option<&Path>,
    stdin: &mut dyn Read,
) -> Result<LoadedContext, InputError> {
    let df_on_stdin = dockerfile == Some(Path::new("-"));
    if spec == "-" {
        if df_on_stdin {
            return Err(InputError::BothOnStdin);
        }
        return from_stdin(dockerfile, stdin);
    }
    // A local directory first, as Docker's CLI looks: `github.com/o/r` may
    // be one.
    let shorthand = || {
        (!Path::new(spec).is_dir())
            .then(|| GitRef::github_shorthand(spec))
            .flatten()
    };
    if let Some(r) = GitRef::parse(spec).or_else(shorthand) {
        let temp = temp_dir()?;
        let commit = git::resolve(&r)?;
        let dir = git::checkout(&r, &commit, temp.path(), false)?;
        return Ok(LoadedContext {
            dockerfile: inside(&dir, dockerfile),
            dir,
            _temp: Some(temp),
        });
    }
    let dir = PathBuf::from(spec);
    if !dir.is_dir() {
        return Err(InputError::NotFound(spec.to_string()));
    }
    if !df_on_stdin {
        return Ok(LoadedContext {
            dir,
            dockerfile: dockerfile.map(Path::to_path_buf),
            _temp: None,
        });
    }
    let temp = temp_dir()?;
    let file = spool(stdin, temp.path())?;
    Ok(LoadedContext {
        dir,
        dockerfile: Some(file),
        _temp: Some(temp),
    })
}

fn temp_dir() -> Result<tempfile::TempDir, InputError> {
    tempfile::Builder::new()
        .prefix("kiln-context-")
        .tempdir()
        .map_err(io(&std::env::temp_dir()))
}

/// A relative `-f` of a tar or git context names a file inside it.
fn inside(dir: &Path, dockerfile: Option<&Path>) -> Option<PathBuf> {
    dockerfile.map(|f| match f.is_absolute() {
        true => f.to_path_buf(),
        false => dir.join(f),
    })
}

/// Stdin copied to `<dir>/Dockerfile` (the name the build shows).
fn spool(stdin: &mut dyn Read, dir: &Path) -> Result<PathBuf, InputError> {
    let df_dir = dir.join("stdin");
    fs::create_dir_all(&df_dir).map_err(io(&df_dir))?;
    let path = df_dir.join("Dockerfile");
    let mut f = fs::File::create(&path).map_err(io(&path))?;
    std::io::copy(stdin, &mut f).map_err(io(&path))?;
    Ok(path)
}

fn from_stdin(
    dockerfile: Option<&Path>,
    stdin: &mut dyn Read,
) -> Result<LoadedContext, InputError> {
    let temp = temp_dir()?;
    let data = spool(stdin, temp.path())?;
    let dir = temp.path().join("context");
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    if archive::is_archive(&data) {
        archive::extract_context(&data, &dir)?;
        return Ok(LoadedContext {
            dockerfile: inside(&dir, dockerfile),
            dir,
            _temp: Some(temp),
        });
    }
    // Not a tar: the Dockerfile itself, with an empty context.
    Ok(LoadedContext {
        dir,
        dockerfile: Some(data),
        _temp: Some(temp),
    })
}
