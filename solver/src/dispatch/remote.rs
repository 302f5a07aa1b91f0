//! ADD sources from outside the context: http(s) files and git
//! repositories, resolved to content before anything runs so keys hold
//! what was fetched. A URL without `--checksum` is fetched now and keyed by
//! its digest (BuildKit does the same); with one, the checksum is the key
//! and the fetch waits for the step. A git ref is keyed by its commit.

use std::path::Path;

use kiln_cache::Digest;

use crate::cachekey::KeyBuilder;
use crate::source::git::{self, GitError, GitRef};
use crate::source::http::{self, HttpError};

/// An ADD source that cannot be resolved; part of the step's error line.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("ADD --checksum needs a single source")]
    ChecksumSources,
    #[error("ADD of a git repository takes it as its only source")]
    GitSources,
    #[error("ADD --checksum is for http(s) sources")]
    ChecksumGit,
    #[error("ADD cannot fetch {0:?}: only http(s) and git sources")]
    Scheme(String),
    #[error("{0}")]
    Http(HttpError),
    #[error("{0}")]
    Git(GitError),
}

/// One remote ADD source, resolved.
#[derive(Debug, Clone)]
pub enum Remote {
    Url {
        url: String,
        /// The checksum given, or the digest fetched at dispatch.
        digest: Digest,
        /// The file's name in a destination directory.
        name: String,
    },
    Git {
        source: GitRef,
        commit: String,
        keep_git_dir: bool,
    },
}

/// A source ADD fetches rather than reads from the context.
pub fn is_remote(source: &str) -> bool {
    source.contains("://") || source.starts_with("git@")
}

/// Resolves `sources` (all remote) and adds them to the key.
pub fn resolve(
    sources: &[String],
    checksum: Option<&str>,
    keep_git_dir: bool,
    downloads: &Path,
    k: &mut KeyBuilder,
) -> Result<Vec<Remote>, RemoteError> {
    let checksum = checksum
        .map(http::parse_checksum)
        .transpose()
        .map_err(RemoteError::Http)?;
    if checksum.is_some() && sources.len() > 1 {
        return Err(RemoteError::ChecksumSources);
    }
    let gits = sources
        .iter()
        .filter(|s| GitRef::parse(s).is_some())
        .count();
    if gits > 0 && sources.len() > 1 {
        return Err(RemoteError::GitSources);
    }
    sources
        .iter()
        .map(|s| match GitRef::parse(s) {
            Some(g) if checksum.is_none() => git_source(g, keep_git_dir, k),
            Some(_) => Err(RemoteError::ChecksumGit),
            None => url_source(s, checksum, downloads, k),
        })
        .collect()
}

fn git_source(
    source: GitRef,
    keep_git_dir: bool,
    k: &mut KeyBuilder,
) -> Result<Remote, RemoteError> {
    let commit = git::resolve(&source).map_err(RemoteError::Git)?;
    k.add(
        format!("git:{}", source.remote),
        format!(
            "{commit} subdir={} keep-git-dir={keep_git_dir}",
            source.subdir
        ),
    );
    Ok(Remote::Git {
        source,
        commit,
        keep_git_dir,
    })
}

fn url_source(
    url: &str,
    checksum: Option<Digest>,
    downloads: &Path,
    k: &mut KeyBuilder,
) -> Result<Remote, RemoteError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(RemoteError::Scheme(url.to_string()));
    }
    let name = http::file_name(url);
    let (digest, shown) = match checksum {
        Some(d) => (d, d.to_string()),
        None => {
            let got = http::fetch(downloads, url, None).map_err(RemoteError::Http)?;
            let mtime = got.mtime.map_or_else(String::new, |m| m.to_string());
            (got.digest, format!("{} mtime={mtime}", got.digest))
        }
    };
    k.add(format!("url:{url}"), format!("{shown} name={name}"));
    Ok(Remote::Url {
        url: url.to_string(),
        digest,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_one(sources: &[&str], checksum: Option<&str>) -> Result<Vec<Remote>, RemoteError> {
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        let mut k = KeyBuilder::new("test");
        resolve(&sources, checksum, false, Path::new("/nonexistent"), &mut k)
    }

    #[test]
    fn sources_that_cannot_be_fetched_are_refused_before_any_fetch() {
        let sum = format!("sha256:{}", "a".repeat(64));
        let two = resolve_one(&["https://a/x", "https://a/y"], Some(&sum)).unwrap_err();
        assert_eq!(two.to_string(), "ADD --checksum needs a single source");
        let ftp = resolve_one(&["ftp://a/x"], None).unwrap_err();
        assert_eq!(
            ftp.to_string(),
            "ADD cannot fetch \"ftp://a/x\": only http(s) and git sources"
        );
        let bad = resolve_one(&["https://a/x"], Some("md5:1")).unwrap_err();
        assert!(matches!(
            bad,
            RemoteError::Http(HttpError::ChecksumFormat(_))
        ));
    }
}
