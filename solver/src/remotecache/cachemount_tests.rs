use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use kiln_cache::layer::apply::ApplyError;
use kiln_parser::ast::CacheSharing;

use super::*;
use crate::dispatch::MountFrom;

/// A blob source holding one blob.
struct OneBlob(Vec<u8>);

impl BlobSource for OneBlob {
    fn describe(&self) -> String {
        "test".into()
    }

    fn open(&self, _: &Digest, size: u64) -> Result<Box<dyn Read + Send + '_>, CacheError> {
        Ok(Box::new(Cursor::new(&self.0).take(size)))
    }
}

fn mount(id: &str) -> RunMount {
    RunMount::Cache {
        target: "/c".into(),
        id: id.into(),
        sharing: CacheSharing::Shared,
        readonly: false,
        from: MountFrom::Empty,
        source: PathBuf::new(),
        mode: 0o755,
        uid: 0,
        gid: 0,
    }
}

/// A one-entry tar whose name is written raw, as an attacker would
/// (the tar crate refuses `..` in names it is given).
fn tar_with(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    if !link.is_empty() {
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

fn blob_of(tar: &[u8]) -> (Vec<u8>, CacheMountBlob) {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(tar).unwrap();
    let bytes = enc.finish().unwrap();
    let blob = CacheMountBlob {
        id: "x".into(),
        media_type: CACHE_MOUNT_MEDIA_TYPE.into(),
        digest: Digest::of_bytes(&bytes).to_string(),
        size: bytes.len() as u64,
    };
    (bytes, blob)
}

fn refused(store: &Store, tar: &[u8]) -> CacheError {
    let (bytes, blob) = blob_of(tar);
    let Err(e) = restore(store, &mount("x"), &blob, &OneBlob(bytes)) else {
        panic!("a hostile cache mount was restored");
    };
    e
}

#[test]
fn cache_mount_blob_escaping_the_mount_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let e = refused(
        &store,
        &tar_with("../../escaped", tar::EntryType::Regular, "", b"pwned"),
    );
    assert!(
        matches!(&e, CacheError::Restore { source, .. }
            if matches!(**source, RestoreError::Apply(ApplyError::Escape(_)))),
        "{e:?}"
    );
    // An absolute symlink, then a file written through it.
    let e = refused(
        &store,
        &[
            tar_with("l", tar::EntryType::Symlink, "/tmp", b"")[..512].to_vec(),
            tar_with(
                "l/escaped-cache-mount",
                tar::EntryType::Regular,
                "",
                b"pwned",
            ),
        ]
        .concat(),
    );
    assert!(
        matches!(&e, CacheError::Restore { source, .. }
            if matches!(**source, RestoreError::Apply(ApplyError::ThroughSymlink { .. }))),
        "{e:?}"
    );
    assert!(!Path::new("/tmp/escaped-cache-mount").exists());
    assert!(!root.path().parent().unwrap().join("escaped").exists());
    assert!(cache::existing(&store, "x").unwrap().is_none());
}

#[test]
fn a_cache_mount_round_trips_and_never_replaces_local_content() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let src = tempfile::tempdir().unwrap();
    fs::create_dir(src.path().join("pkgs")).unwrap();
    fs::write(src.path().join("pkgs/a.deb"), b"deb").unwrap();
    let (blob, _) = pack(&store, "x", src.path()).unwrap();
    let bytes = fs::read(store.blob_path(&blob.digest)).unwrap();
    let listed = CacheMountBlob {
        id: "x".into(),
        media_type: CACHE_MOUNT_MEDIA_TYPE.into(),
        digest: blob.digest.to_string(),
        size: blob.size,
    };
    let fresh = tempfile::tempdir().unwrap();
    let other = Store::open(fresh.path()).unwrap();
    restore(&other, &mount("x"), &listed, &OneBlob(bytes.clone())).unwrap();
    let (dir, _) = cache::existing(&other, "x").unwrap().unwrap();
    assert_eq!(fs::read(dir.join("pkgs/a.deb")).unwrap(), b"deb");
    // A mount with content keeps it: the import does not merge into it.
    fs::write(dir.join("pkgs/a.deb"), b"local").unwrap();
    let staging = other.new_snapshot_staging().unwrap();
    fs::write(staging.path().join("b"), b"remote").unwrap();
    assert!(!cache::seed(&other, &mount("x"), staging).unwrap());
    assert_eq!(fs::read(dir.join("pkgs/a.deb")).unwrap(), b"local");
    assert!(!dir.join("b").exists());
}

#[test]
fn a_cache_mount_blob_that_is_not_the_one_named_is_not_seeded() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let (_, mut listed) = blob_of(&tar_with("a", tar::EntryType::Regular, "", b"ok"));
    let (other, _) = blob_of(&tar_with("b", tar::EntryType::Regular, "", b"ok"));
    listed.size = other.len() as u64;
    let e = restore(&store, &mount("x"), &listed, &OneBlob(other)).unwrap_err();
    assert!(
        matches!(&e, CacheError::Restore { source, .. }
            if matches!(**source, RestoreError::BlobDigest(_))),
        "{e:?}"
    );
    assert!(cache::existing(&store, "x").unwrap().is_none());
}
