//! ADD sources from outside the context: http(s) files and git
//! repositories, resolved to content before anything runs so keys hold
//! what was fetched. A URL without `--checksum` is fetched now and keyed by
//! its digest (BuildKit does the same); with one, the checksum is the key
//! and the fetch waits for the step. A git ref is keyed by its commit.

use std::path::Path;

use kiln_cache::Digest;

use crate::cachekey::KeyBuilder;
use crate::source::git::{self, GitRef};
use crate::source::http;

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
) -> Result<Vec<Remote>, String> {
    let checksum = checksum
        .map(http::parse_checksum)
        .transpose()
        .map_err(|e| e.to_string())?;
    if checksum.is_some() && sources.len() > 1 {
        return Err("ADD --checksum needs a single source".into());
    }
    let gits = sources
        .iter()
        .filter(|s| GitRef::parse(s).is_some())
        .count();
    if gits > 0 && sources.len() > 1 {
        return Err("ADD of a git repository takes it as its only source".into());
    }
    sources
        .iter()
        .map(|s| match GitRef::parse(s) {
            Some(g) if checksum.is_none() => git_source(g, keep_git_dir, k),
            Some(_) => Err("ADD --checksum is for http(s) sources".into()),
            None => url_source(s, checksum, downloads, k),
        })
        .collect()
}

fn git_source(source: GitRef, keep_git_dir: bool, k: &mut KeyBuilder) -> Result<Remote, String> {
    let commit = git::resolve(&source).map_err(|e| e.to_string())?;
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
) -> Result<Remote, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "ADD cannot fetch {url:?}: only http(s) and git sources"
        ));
    }
    let name = http::file_name(url);
    let (digest, shown) = match checksum {
        Some(d) => (d, d.to_string()),
        None => {
            let got = http::fetch(downloads, url, None).map_err(|e| e.to_string())?;
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
