//! ADD's local archives: a tar (plain, gzip, bzip2, xz or zstd) is
//! unpacked at the destination; anything else is copied as a file.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use kiln_cache::compression;

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

/// Unpacks the archive at `path` into `dest` (which exists), keeping the
/// archive's owners and modes. The tar crate refuses entries that climb out.
pub fn extract(path: &Path, dest: &Path) -> std::io::Result<()> {
    let f = File::open(path)?;
    let (_, plain) = compression::decoder(BufReader::new(f)).map_err(std::io::Error::other)?;
    unpack(plain, dest)
}

fn unpack<R: Read>(reader: R, dest: &Path) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    archive.unpack(dest)
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
}
