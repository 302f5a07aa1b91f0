//! Remote ADD sources made into a directory COPY can read like a stage:
//! URL files with Docker's 0600 mode and the remote `Last-Modified` as
//! mtime, or a git checkout (its subdirectory, `.git` only when kept).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::dispatch::Remote;
use crate::source::{git, http};

use super::layered::Layered;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error(transparent)]
    Git(#[from] git::GitError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fetches `items` under `scratch`: the view to copy from and the source
/// paths in it.
pub fn materialize(
    items: &[Remote],
    downloads: &Path,
    scratch: &Path,
) -> Result<(Layered, Vec<String>), FetchError> {
    let files = scratch.join("fetched");
    fs::create_dir_all(&files).map_err(io(&files))?;
    let mut paths = Vec::new();
    for item in items {
        match item {
            Remote::Url { url, digest, name } => {
                let got = http::fetch(downloads, url, Some(digest))?;
                let dest = files.join(name);
                fs::copy(&got.path, &dest).map_err(io(&dest))?;
                // Docker: a file ADDed from a URL gets mode 0600.
                fs::set_permissions(&dest, fs::Permissions::from_mode(0o600)).map_err(io(&dest))?;
                if let Some(secs) = got.mtime {
                    let t = filetime::FileTime::from_unix_time(secs, 0);
                    filetime::set_file_mtime(&dest, t).map_err(io(&dest))?;
                }
                paths.push(format!("/{name}"));
            }
            Remote::Git {
                source,
                commit,
                keep_git_dir,
            } => {
                let dir = git::checkout(source, commit, &files, *keep_git_dir)?;
                return Ok((Layered::new(vec![dir]), vec!["/".into()]));
            }
        }
    }
    Ok((Layered::new(vec![files]), paths))
}
