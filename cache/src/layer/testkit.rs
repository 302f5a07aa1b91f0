//! Shared by the layer tests: crafted tars (with names the tar crate's own
//! builder refuses to write, such as `../x`) and the root check.

use std::io::Write;

/// Privileged tests need root (chown, mknod, trusted.* xattrs). They fail
/// when not root, unless KILN_SKIP_PRIVILEGED=1 asks to skip them.
pub fn privileged(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("KILN_SKIP_PRIVILEGED").as_deref() == Ok("1") {
        eprintln!("skipped {test}: needs root (KILN_SKIP_PRIVILEGED=1)");
        return false;
    }
    panic!("{test} needs root; set KILN_SKIP_PRIVILEGED=1 to skip it");
}

/// One entry of a crafted tar.
pub struct Raw<'a> {
    pub name: &'a [u8],
    pub kind: tar::EntryType,
    pub link: &'a [u8],
    pub data: &'a [u8],
    pub mode: u32,
}

pub fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        name: name.as_bytes(),
        kind: tar::EntryType::Regular,
        link: b"",
        data,
        mode: 0o644,
    }
}

pub fn dir(name: &str) -> Raw<'_> {
    Raw {
        name: name.as_bytes(),
        kind: tar::EntryType::Directory,
        link: b"",
        data: b"",
        mode: 0o755,
    }
}

pub fn symlink<'a>(name: &'a str, target: &'a str) -> Raw<'a> {
    Raw {
        name: name.as_bytes(),
        kind: tar::EntryType::Symlink,
        link: target.as_bytes(),
        data: b"",
        mode: 0o777,
    }
}

pub fn hardlink<'a>(name: &'a str, target: &'a str) -> Raw<'a> {
    Raw {
        kind: tar::EntryType::Link,
        ..symlink(name, target)
    }
}

/// Writes the entries verbatim: names go into the header bytes untouched.
pub fn raw_tar(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let old = h.as_old_mut();
        old.name[..e.name.len()].copy_from_slice(e.name);
        old.linkname[..e.link.len()].copy_from_slice(e.link);
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(e.data.len() as u64);
        h.set_cksum();
        out.write_all(h.as_bytes()).unwrap();
        out.write_all(e.data).unwrap();
        let pad = (512 - e.data.len() % 512) % 512;
        out.write_all(&vec![0u8; pad]).unwrap();
    }
    out.write_all(&[0u8; 1024]).unwrap();
    out
}
