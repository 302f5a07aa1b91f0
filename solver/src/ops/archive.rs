//! ADD's local archives: a tar (plain, gzip, bzip2, xz or zstd) is
//! unpacked at the destination; anything else is copied as a file.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use kiln_cache::compression;
use kiln_cache::layer::{LimitedTar, TarLimitError};

/// Whether `path` holds a tar, possibly compressed (judged by content, as
/// Docker judges it).
pub fn is_archive(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let Ok((_, mut plain)) = compression::decoder(BufReader::new(f)) else {
        return false;
    };
    let mut header = [0u8; 512];
    let mut got = 0;
    while got < header.len() {
        match plain.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return false,
        }
    }
    got == 512 && valid_header(&header)
}

/// A ustar/gnu header: its checksum field matches its bytes.
fn valid_header(h: &[u8; 512]) -> bool {
    let field = String::from_utf8_lossy(&h[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                b' ' as u32
            } else {
                *b as u32
            }
        })
        .sum();
    sum == want
}

/// Linux's PATH_MAX: a longer entry name cannot be unpacked anyway, and
/// refusing it early bounds what the delayed directory entries hold.
const NAME_LIMIT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {source}", path.display())]
    Limit {
        path: PathBuf,
        source: TarLimitError,
    },
    #[error(
        "{}: entry {entry:?} is named like a whiteout (the OCI layer format reserves \".wh.\"), refusing to add it",
        path.display()
    )]
    Whiteout { path: PathBuf, entry: String },
    #[error("{}: entry name of {len} bytes is longer than {NAME_LIMIT}", path.display())]
    NameTooLong { path: PathBuf, len: usize },
}

/// How one kind of archive is unpacked.
#[derive(Clone, Copy)]
struct Policy {
    /// Names the tar in limit errors.
    tar: &'static str,
    /// ADD's archives become layer content, where a `.wh.` name would turn
    /// into a whiteout once the layer is written as a tar (save, push) and
    /// delete files of the layers below.
    refuse_whiteouts: bool,
}

/// Unpacks ADD's archive at `path` into `dest` (which exists), keeping the
/// archive's owners and modes. The tar crate refuses entries that climb
/// out; entries named `.wh.*` are refused here.
pub fn extract(path: &Path, dest: &Path) -> Result<(), ExtractError> {
    extract_with(
        path,
        dest,
        Policy {
            tar: "ADD archive",
            refuse_whiteouts: true,
        },
    )
}

/// Unpacks a build context sent as a tar on stdin into `dest`.
pub fn extract_context(path: &Path, dest: &Path) -> Result<(), ExtractError> {
    extract_with(
        path,
        dest,
        Policy {
            tar: "context tar",
            refuse_whiteouts: false,
        },
    )
}

fn extract_with(path: &Path, dest: &Path, policy: Policy) -> Result<(), ExtractError> {
    let io_err = |source| ExtractError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(io_err)?;
    let (_, plain) =
        compression::decoder(BufReader::new(f)).map_err(|e| io_err(io::Error::other(e)))?;
    unpack(LimitedTar::new(plain, policy.tar), path, dest, policy)
}

/// The tar crate's `Archive::unpack`, with every entry's name checked
/// first: directories are made last, deepest first, so that their modes
/// and mtimes survive the entries written below them.
fn unpack<R: Read>(
    reader: R,
    path: &Path,
    dest: &Path,
    policy: Policy,
) -> Result<(), ExtractError> {
    let err = |source: io::Error| match TarLimitError::find(&source) {
        Some(limit) => ExtractError::Limit {
            path: path.to_path_buf(),
            source: limit.clone(),
        },
        None => ExtractError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    let dest = dest.canonicalize().map_err(err)?;
    let mut directories = Vec::new();
    for entry in archive.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        check_name(&entry, path, policy)?;
        if entry.header().entry_type() == tar::EntryType::Directory {
            directories.push(entry);
        } else {
            entry.unpack_in(&dest).map_err(err)?;
        }
    }
    directories.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut dir in directories {
        dir.unpack_in(&dest).map_err(err)?;
    }
    Ok(())
}

fn check_name<R: Read>(
    entry: &tar::Entry<'_, R>,
    path: &Path,
    policy: Policy,
) -> Result<(), ExtractError> {
    let name = entry.path_bytes();
    let len = name
        .len()
        .max(entry.link_name_bytes().map_or(0, |l| l.len()));
    if len > NAME_LIMIT {
        return Err(ExtractError::NameTooLong {
            path: path.to_path_buf(),
            len,
        });
    }
    if policy.refuse_whiteouts && name.split(|b| *b == b'/').any(|c| c.starts_with(b".wh.")) {
        return Err(ExtractError::Whiteout {
            path: path.to_path_buf(),
            entry: String::from_utf8_lossy(&name).into_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tars_are_archives_and_text_is_not() {
        let d = tempfile::tempdir().unwrap();
        let tar_path = d.path().join("a.tar");
        {
            let mut b = tar::Builder::new(File::create(&tar_path).unwrap());
            let mut h = tar::Header::new_gnu();
            h.set_size(2);
            h.set_mode(0o600);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, "x/y", &b"hi"[..]).unwrap();
            b.finish().unwrap();
        }
        std::fs::write(d.path().join("t.txt"), "just text").unwrap();
        assert!(is_archive(&tar_path));
        assert!(!is_archive(&d.path().join("t.txt")));
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract(&tar_path, &out).unwrap();
        assert_eq!(std::fs::read(out.join("x/y")).unwrap(), b"hi");
    }

    /// A tar of `entries` (name, data), written with the raw names.
    fn tar_of(path: &Path, entries: &[(&str, &[u8])]) {
        let mut b = tar::Builder::new(File::create(path).unwrap());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.finish().unwrap();
    }

    #[test]
    fn add_refuses_whiteout_names_and_names_the_entry() {
        let d = tempfile::tempdir().unwrap();
        for name in ["x/.wh.lower2", ".wh..wh..opq", "a/.wh.dir/f"] {
            let tar_path = d.path().join("evil.tar");
            tar_of(&tar_path, &[("ok", b"1"), (name, b"")]);
            let out = d.path().join("out");
            std::fs::create_dir_all(&out).unwrap();
            let err = extract(&tar_path, &out).unwrap_err();
            assert!(
                matches!(&err, ExtractError::Whiteout { entry, .. } if entry == name),
                "{err:?}"
            );
            assert!(err.to_string().contains(name), "{err}");
            std::fs::remove_dir_all(&out).unwrap();
        }
        // A context tar may hold such names (COPY copies them as Docker does).
        let tar_path = d.path().join("ctx.tar");
        tar_of(&tar_path, &[("x/.wh.lower2", b"")]);
        let out = d.path().join("ctx");
        std::fs::create_dir(&out).unwrap();
        extract_context(&tar_path, &out).unwrap();
        // `.whx` and `a.wh.b` are ordinary names.
        tar_of(&tar_path, &[(".whx", b""), ("a.wh.b", b"")]);
        extract(&tar_path, &out).unwrap();
    }

    #[test]
    fn add_refuses_a_2_mib_long_name() {
        let d = tempfile::tempdir().unwrap();
        let tar_path = d.path().join("big.tar");
        let mut b = tar::Builder::new(File::create(&tar_path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        // The builder writes a GNU long name entry for a long path.
        b.append_data(&mut h, "d/".repeat(1 << 20), &b""[..])
            .unwrap();
        b.finish().unwrap();
        drop(b);
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let err = extract(&tar_path, &out).unwrap_err();
        assert!(matches!(&err, ExtractError::Limit { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("ADD archive: entry at offset 0: long name of 2097153 bytes"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    }
}
