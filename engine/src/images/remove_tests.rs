//! `rmi`'s rules on a store of its own: an imported one-file image under
//! two names, no containers.

use super::*;
use crate::events::{EventType, EventsOptions};
use crate::images::ImportOptions;

/// A tar of one small file.
fn rootfs_tar() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, "hello", &b"hi\n"[..]).unwrap();
    tar.into_inner().unwrap()
}

/// An engine whose store holds one image named `a:1` and `b:2`; its ID.
fn two_names() -> (tempfile::TempDir, Engine, Digest) {
    let root = tempfile::tempdir().unwrap();
    let engine = Engine::new(root.path());
    let opts = ImportOptions {
        reference: Some(Reference::parse_normalized("a:1").unwrap()),
        source: "-".into(),
        ..ImportOptions::default()
    };
    let id = engine.import_image(&rootfs_tar()[..], &opts).unwrap();
    engine.tag_image("a:1", "b:2").unwrap();
    (root, engine, id)
}

fn name(s: &str) -> Reference {
    Reference::parse_normalized(s).unwrap()
}

fn image_actions(engine: &Engine) -> Vec<String> {
    engine
        .events(&EventsOptions::default())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.kind == EventType::Image)
        .map(|e| e.action)
        .collect()
}

#[test]
fn a_name_of_several_only_untags() {
    let (_root, engine, id) = two_names();
    let removed = engine.remove_image("b:2", false).unwrap();
    assert_eq!(removed, [Removed::Untagged(name("b:2"))]);
    let left = engine.list_images(None).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].id, left[0].name.clone()), (id, Some(name("a:1"))));
}

#[test]
fn the_last_name_deletes() {
    let (_root, engine, id) = two_names();
    engine.remove_image("b:2", false).unwrap();
    let removed = engine.remove_image("a:1", false).unwrap();
    assert_eq!(
        removed,
        [Removed::Untagged(name("a:1")), Removed::Deleted(id)]
    );
    assert!(engine.list_images(None).unwrap().is_empty());
    assert_eq!(
        image_actions(&engine),
        ["import", "tag", "untag", "untag", "delete"]
    );
}

#[test]
fn an_id_with_several_names_needs_force() {
    let (_root, engine, id) = two_names();
    let err = engine.remove_image(&id.to_string(), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            id.short()
        )
    );
    let removed = engine.remove_image(&id.to_string(), true).unwrap();
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert_eq!(removed[2], Removed::Deleted(id));
    assert!(engine.list_images(None).unwrap().is_empty());
}

#[test]
fn a_tag_with_a_digest_is_refused() {
    let (_root, engine, _) = two_names();
    let target = format!("c@sha256:{}", "0".repeat(64));
    let err = engine.tag_image("a:1", &target).unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing to create a tag with a digest reference"
    );
}
