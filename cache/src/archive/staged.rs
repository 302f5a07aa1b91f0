//! An archive being loaded, unpacked into a private dir under the store's
//! `tmp/` first: `docker save` puts manifest.json last and stdin cannot be
//! read twice, so every file is kept (and hashed) until the archive has
//! been read to the end and checked. Nothing reaches the store before that,
//! and the dir goes away with this value, or with the process's lease.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use crate::compression;
use crate::digest::Digest;
use crate::digesting::DigestingWriter;
use crate::layer::LimitedTar;
use crate::store::Store;

use super::{io_err, ArchiveError};

/// Files up to this size are also kept in memory: JSON documents.
const SMALL: u64 = 4 << 20;
/// Linux's PATH_MAX.
const NAME_LIMIT: usize = 4096;

pub(crate) struct StagedFile {
    pub path: PathBuf,
    pub digest: Digest,
    pub size: u64,
    pub small: Option<Vec<u8>>,
}

pub(crate) struct Staged {
    dir: PathBuf,
    files: HashMap<String, StagedFile>,
    by_digest: HashMap<Digest, String>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `./a//b` and `a/b` are the same archive member.
pub(crate) fn clean(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

impl Staged {
    /// Reads the whole archive (plain, gzip, zstd, xz or bzip2).
    pub(crate) fn read<R: Read>(store: &Store, input: R) -> Result<Staged, ArchiveError> {
        let dir = store.tmp_path("load")?;
        fs::create_dir(&dir).map_err(io_err("creating a staging directory"))?;
        let mut staged = Staged {
            dir,
            files: HashMap::new(),
            by_digest: HashMap::new(),
        };
        let (_, stream) = compression::decoder(io::BufReader::with_capacity(1 << 20, input))?;
        let mut archive = tar::Archive::new(LimitedTar::new(stream, "image archive"));
        let mut links = Vec::new();
        for entry in archive.entries().map_err(ArchiveError::malformed)? {
            let mut entry = entry.map_err(ArchiveError::malformed)?;
            let raw_name = entry.path_bytes();
            // Names and link targets are kept for the whole read; image
            // archives only hold short ones (`blobs/sha256/<hex>`).
            let too_long = raw_name.len() > NAME_LIMIT
                || entry
                    .link_name_bytes()
                    .is_some_and(|l| l.len() > NAME_LIMIT);
            if too_long {
                return Err(ArchiveError::Invalid {
                    what: "image archive".to_string(),
                    detail: format!("member name or link target longer than {NAME_LIMIT} bytes"),
                });
            }
            let name = clean(&String::from_utf8_lossy(&raw_name));
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    staged.add(name, &mut entry)?
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target =
                        String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())
                            .into_owned();
                    let is_symlink = entry.header().entry_type() == tar::EntryType::Symlink;
                    links.push((name, target, is_symlink));
                }
                _ => {}
            }
        }
        // Old `docker save` links a repeated layer to its first copy.
        for (name, target, is_symlink) in links {
            let resolved = if is_symlink {
                let parent = Path::new(&name).parent().unwrap_or(Path::new(""));
                resolve_relative(parent, &target)
            } else {
                clean(&target)
            };
            if let Some(file) = staged.files.get(&resolved) {
                let alias = StagedFile {
                    path: file.path.clone(),
                    digest: file.digest,
                    size: file.size,
                    small: file.small.clone(),
                };
                staged.files.insert(name, alias);
            }
        }
        Ok(staged)
    }

    fn add<R: Read>(&mut self, name: String, data: &mut R) -> Result<(), ArchiveError> {
        let path = self.dir.join(self.files.len().to_string());
        let file = File::create_new(&path).map_err(io_err("staging an archive member"))?;
        let mut out = DigestingWriter::new(BufWriter::with_capacity(1 << 20, file));
        io::copy(data, &mut out).map_err(ArchiveError::malformed)?;
        let (buffered, digest, size) = out.finish();
        buffered
            .into_inner()
            .map_err(|e| io_err("staging an archive member")(e.into_error()))?;
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            if hex != digest.hex() {
                return Err(ArchiveError::DigestMismatch {
                    path: name,
                    actual: digest,
                });
            }
        }
        let small = if size <= SMALL {
            Some(fs::read(&path).map_err(io_err("reading a staged member"))?)
        } else {
            None
        };
        self.by_digest.insert(digest, name.clone());
        self.files.insert(
            name,
            StagedFile {
                path,
                digest,
                size,
                small,
            },
        );
        Ok(())
    }

    pub(crate) fn get(&self, name: &str) -> Option<&StagedFile> {
        self.files.get(&clean(name))
    }

    pub(crate) fn by_digest(&self, digest: &Digest) -> Result<&StagedFile, ArchiveError> {
        self.by_digest
            .get(digest)
            .and_then(|name| self.files.get(name))
            .ok_or_else(|| ArchiveError::Missing(format!("blob {digest}")))
    }

    /// The bytes of a small member (a JSON document).
    pub(crate) fn json_bytes(&self, name: &str) -> Result<&[u8], ArchiveError> {
        let file = self
            .get(name)
            .ok_or_else(|| ArchiveError::Missing(name.to_string()))?;
        file.small.as_deref().ok_or_else(|| ArchiveError::Invalid {
            what: name.to_string(),
            detail: "too large for a JSON document".to_string(),
        })
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.files.contains_key(&clean(name))
    }

    pub(crate) fn open(file: &StagedFile) -> Result<File, ArchiveError> {
        File::open(&file.path).map_err(io_err("reading a staged member"))
    }
}

fn resolve_relative(parent: &Path, target: &str) -> String {
    let mut parts: Vec<String> = if target.starts_with('/') {
        Vec::new()
    } else {
        parent
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p.to_string()),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_cleaned_and_links_resolved() {
        assert_eq!(clean("./blobs//sha256/ab"), "blobs/sha256/ab");
        assert_eq!(
            resolve_relative(Path::new("abc"), "../def/layer.tar"),
            "def/layer.tar"
        );
    }
}
