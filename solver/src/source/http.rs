//! `ADD https://…`: a remote file fetched once into the store's download
//! cache (`builds/downloads/<sha256>`), checked against `--checksum`, and
//! placed with the remote `Last-Modified` as its mtime, as Docker does.
//!
//! The request runs on a plain thread: reqwest's blocking client must not
//! run on a tokio worker, and dispatch may be called from one.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use kiln_cache::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::httpdate;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: {cause}")]
    Request { url: String, cause: reqwest::Error },
    #[error("{url}: {cause}")]
    Body { url: String, cause: std::io::Error },
    #[error("{0}: download thread panicked")]
    Panicked(String),
    #[error("{url}: server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: checksum mismatch: expected {expected}, got {actual}")]
    Checksum {
        url: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("invalid checksum {0:?}: only sha256:<64 hex digits> is supported")]
    ChecksumFormat(String),
    #[error("download cache {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A fetched file in the download cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub path: PathBuf,
    pub digest: Digest,
    /// `Last-Modified`, in seconds since the epoch, when the server sent one.
    pub mtime: Option<i64>,
}

/// What the cache remembers of a URL's last fetch.
#[derive(Debug, Serialize, Deserialize)]
struct UrlMeta {
    digest: Digest,
    last_modified: Option<i64>,
}

/// `--checksum=sha256:…` parsed.
pub fn parse_checksum(text: &str) -> Result<Digest, HttpError> {
    let hex = text
        .strip_prefix("sha256:")
        .ok_or_else(|| HttpError::ChecksumFormat(text.to_string()))?;
    Digest::from_hex(hex).ok_or_else(|| HttpError::ChecksumFormat(text.to_string()))
}

/// The name the file gets in a destination directory: the last segment of
/// the URL's path (BuildKit's rule, with its `index` fallback).
pub fn file_name(url: &str) -> String {
    let path = reqwest::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    match path.rsplit('/').next() {
        Some(base) if !base.is_empty() && base != "." => base.to_string(),
        _ => "index".to_string(),
    }
}

/// Where downloads are kept in a store rooted at `root`.
pub fn cache_dir(root: &Path) -> PathBuf {
    root.join("builds").join("downloads")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HttpError + '_ {
    move |source| HttpError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn meta_path(dir: &Path, url: &str) -> PathBuf {
    dir.join(format!(
        "url-{}.json",
        blake3::hash(url.as_bytes()).to_hex()
    ))
}

/// The file for `url`: from the cache when `expected` is given and was
/// fetched before (no network), else fetched now and checked.
pub fn fetch(dir: &Path, url: &str, expected: Option<&Digest>) -> Result<Download, HttpError> {
    if let Some(want) = expected {
        if let Some(d) = cached(dir, url, want) {
            return Ok(d);
        }
    }
    let d = download(dir, url)?;
    match expected {
        Some(want) if *want != d.digest => Err(HttpError::Checksum {
            url: url.to_string(),
            expected: *want,
            actual: d.digest,
        }),
        _ => Ok(d),
    }
}

fn cached(dir: &Path, url: &str, want: &Digest) -> Option<Download> {
    let text = fs::read(meta_path(dir, url)).ok()?;
    let meta: UrlMeta = serde_json::from_slice(&text).ok()?;
    let path = dir.join(want.hex());
    (meta.digest == *want && path.is_file()).then_some(Download {
        path,
        digest: *want,
        mtime: meta.last_modified,
    })
}

fn download(dir: &Path, url: &str) -> Result<Download, HttpError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let owned_url = url.to_string();
    let owned_dir = dir.to_path_buf();
    let worker = std::thread::spawn(move || stream_to_cache(&owned_dir, &owned_url));
    let (digest, mtime) = worker
        .join()
        .map_err(|_| HttpError::Panicked(url.to_string()))??;
    let meta = UrlMeta {
        digest,
        last_modified: mtime,
    };
    let meta_file = meta_path(dir, url);
    let bytes = serde_json::to_vec(&meta).unwrap_or_default();
    fs::write(&meta_file, bytes).map_err(io(&meta_file))?;
    Ok(Download {
        path: dir.join(digest.hex()),
        digest,
        mtime,
    })
}

fn stream_to_cache(dir: &Path, url: &str) -> Result<(Digest, Option<i64>), HttpError> {
    let request = |cause| HttpError::Request {
        url: url.to_string(),
        cause,
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .map_err(request)?;
    let mut resp = client.get(url).send().map_err(request)?;
    if !resp.status().is_success() {
        return Err(HttpError::Status {
            url: url.to_string(),
            status: resp.status().as_u16(),
        });
    }
    let mtime = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(httpdate::parse);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = resp.read(&mut buf).map_err(|cause| HttpError::Body {
            url: url.to_string(),
            cause,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).map_err(io(dir))?;
    }
    let digest = Digest::from_sha256_bytes(hasher.finalize().into());
    let dest = dir.join(digest.hex());
    tmp.persist(&dest).map_err(|e| io(&dest)(e.error))?;
    Ok((digest, mtime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_url_path() {
        assert_eq!(file_name("http://h/a/b/tool.tar.gz?x=1"), "tool.tar.gz");
        assert_eq!(file_name("http://h/"), "index");
        assert_eq!(file_name("http://h"), "index");
    }

    #[test]
    fn checksums_are_sha256_only() {
        let hex = "a".repeat(64);
        assert_eq!(parse_checksum(&format!("sha256:{hex}")).unwrap().hex(), hex);
        assert!(parse_checksum("md5:abc").is_err());
        assert!(parse_checksum("sha256:zz").is_err());
    }
}
