//! Git sources (`ADD https://…/r.git#ref:subdir`, git URL build
//! contexts), through the `git` binary. A URL's ref is resolved to a commit
//! before anything runs, so the commit is what cache keys hold (BuildKit's
//! git source does the same with `ls-remote`).

use std::path::Path;
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("running git: {0}")]
    Spawn(std::io::Error),
    #[error("git {args}: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("{url}: no ref {reference:?} in the repository")]
    NoRef { url: String, reference: String },
    #[error("{url}: subdirectory {subdir:?} not found at {commit}")]
    NoSubdir {
        url: String,
        subdir: String,
        commit: String,
    },
}

/// A git source: where, which ref, which directory of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    pub remote: String,
    /// Branch, tag or commit; `None`: the remote's HEAD.
    pub reference: Option<String>,
    /// `:subdir` after the ref; empty for the root.
    pub subdir: String,
}

impl GitRef {
    /// Parses a git source as Docker recognises one: `git://`, `ssh://`,
    /// `git@host:…`, or an http(s)/file URL whose path ends in `.git`;
    /// `#ref:subdir` after it. `None` for anything else.
    pub fn parse(text: &str) -> Option<GitRef> {
        let (remote, fragment) = match text.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (text, None),
        };
        let is_git = remote.starts_with("git://")
            || remote.starts_with("ssh://")
            || remote.starts_with("git@")
            || (["https://", "http://", "file://"]
                .iter()
                .any(|s| remote.starts_with(s))
                && remote.trim_end_matches('/').ends_with(".git"));
        if !is_git {
            return None;
        }
        let (reference, subdir) = match fragment.map(|f| f.split_once(':').unwrap_or((f, ""))) {
            Some((r, s)) => (Some(r.to_string()).filter(|r| !r.is_empty()), s),
            None => (None, ""),
        };
        Some(GitRef {
            remote: remote.to_string(),
            reference,
            subdir: subdir.trim_matches('/').to_string(),
        })
    }
}

impl GitRef {
    /// Docker's `github.com/OWNER/REPO[#ref:subdir]` build-context
    /// shorthand, fetched over https. Only for a build's context: in a
    /// Dockerfile's ADD such a word is a path.
    pub fn github_shorthand(text: &str) -> Option<GitRef> {
        if !text.starts_with("github.com/") {
            return None;
        }
        let (path, fragment) = match text.split_once('#') {
            Some((p, f)) => (p, format!("#{f}")),
            None => (text, String::new()),
        };
        let url = format!("https://{}.git{fragment}", path.trim_end_matches(".git"));
        GitRef::parse(&url)
    }
}

fn git(dir: Option<&Path>, args: &[&str]) -> Result<String, GitError> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    // No prompt may hang a build; no user config may change what is fetched.
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(args);
    let out = cmd.output().map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `r` names now.
pub fn resolve(r: &GitRef) -> Result<String, GitError> {
    let wanted = r.reference.clone().unwrap_or_else(|| "HEAD".into());
    if is_commit(&wanted) {
        return Ok(wanted.to_ascii_lowercase());
    }
    let listing = git(None, &["ls-remote", "--", &r.remote])?;
    let candidates = [
        wanted.clone(),
        format!("refs/heads/{wanted}"),
        format!("refs/tags/{wanted}"),
    ];
    // An annotated tag is listed twice; its peeled line names the commit.
    for name in &candidates {
        let peeled = format!("{name}^{{}}");
        for want in [&peeled, name] {
            let hit = listing.lines().find_map(|l| {
                let (sha, n) = l.split_once('\t')?;
                (n == want).then(|| sha.to_string())
            });
            if let Some(sha) = hit {
                return Ok(sha);
            }
        }
    }
    Err(GitError::NoRef {
        url: r.remote.clone(),
        reference: wanted,
    })
}

/// Checks `commit` of `r` out into the empty directory `dest`, with a
/// `.git` only when `keep_git_dir`. Returns the directory to copy (the
/// subdirectory when one was asked for).
pub fn checkout(
    r: &GitRef,
    commit: &str,
    dest: &Path,
    keep_git_dir: bool,
) -> Result<std::path::PathBuf, GitError> {
    let d = Some(dest);
    git(d, &["init", "-q"])?;
    git(d, &["remote", "add", "origin", &r.remote])?;
    // A shallow fetch of the commit; servers that refuse a bare commit get
    // the ref it came from, then the whole history as a last resort.
    let shallow = git(d, &["fetch", "-q", "--depth", "1", "origin", commit]).is_ok();
    if !shallow {
        let by_ref = r
            .reference
            .as_deref()
            .is_some_and(|re| git(d, &["fetch", "-q", "--depth", "1", "origin", re]).is_ok());
        if !by_ref {
            git(d, &["fetch", "-q", "origin"])?;
        }
    }
    git(
        d,
        &["-c", "advice.detachedHead=false", "checkout", "-q", commit],
    )?;
    if !keep_git_dir {
        std::fs::remove_dir_all(dest.join(".git")).map_err(GitError::Spawn)?;
    }
    let dir = dest.join(&r.subdir);
    if !dir.exists() {
        return Err(GitError::NoSubdir {
            url: r.remote.clone(),
            subdir: r.subdir.clone(),
            commit: commit.to_string(),
        });
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::GitRef;

    #[test]
    fn github_shorthand_is_an_https_remote() {
        let r = GitRef::github_shorthand("github.com/o/r#v1:docs").unwrap();
        assert_eq!(r.remote, "https://github.com/o/r.git");
        assert_eq!(
            (r.reference.as_deref(), r.subdir.as_str()),
            (Some("v1"), "docs")
        );
        let r = GitRef::github_shorthand("github.com/o/r.git").unwrap();
        assert_eq!(r.remote, "https://github.com/o/r.git");
        assert!(GitRef::github_shorthand("gitlab.com/o/r").is_none());
    }

    #[test]
    fn git_sources_as_docker_recognises_them() {
        let r = GitRef::parse("https://h/o/r.git#v1:docs/sub/").unwrap();
        assert_eq!(r.remote, "https://h/o/r.git");
        assert_eq!(r.reference.as_deref(), Some("v1"));
        assert_eq!(r.subdir, "docs/sub");
        let r = GitRef::parse("git@github.com:o/r.git").unwrap();
        assert_eq!((r.reference, r.subdir.as_str()), (None, ""));
        assert!(GitRef::parse("git://h/r#main").is_some());
        assert!(GitRef::parse("file:///tmp/r.git#:sub").is_some());
        assert!(GitRef::parse("https://h/file.tar.gz").is_none());
        assert!(GitRef::parse("./local").is_none());
    }
}
