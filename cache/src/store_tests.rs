//! Behaviour of the store as a whole: blobs, snapshots, images, records,
//! prune, check, across several `Store`s on one root (as several processes).

use std::fs;
use std::time::{Duration, SystemTime};

use crate::{
    Digest, ImageRecord, LayerRecord, NewImage, NewRecord, NewSnapshot, NoHolds, PruneOptions,
    RecordKind, Reference, SnapshotId, Store, StoreError,
};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn snapshot(store: &Store, content: &str, diff: Option<Digest>) -> SnapshotId {
    let staging = store.new_snapshot_staging().unwrap();
    fs::write(staging.path().join("file"), content).unwrap();
    store
        .commit_snapshot(
            staging,
            NewSnapshot {
                diff_id: diff,
                tar_size: None,
                parent: None,
                created_by: format!("layer {content}"),
            },
        )
        .unwrap()
}

/// An image of one layer whose content is `content`.
fn image(store: &Store, content: &str, tag: &str) -> ImageRecord {
    let layer = store
        .put_blob_bytes(format!("tar of {content}").as_bytes())
        .unwrap();
    let diff_id = Digest::of_bytes(content.as_bytes());
    let snap = snapshot(store, content, Some(diff_id));
    let config = store
        .put_blob_bytes(format!("{{\"c\":\"{content}\"}}").as_bytes())
        .unwrap();
    let manifest = store
        .put_blob_bytes(format!("manifest {content}").as_bytes())
        .unwrap();
    store
        .add_image(
            NewImage {
                manifest,
                manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                config,
                layers: vec![LayerRecord {
                    blob: layer,
                    media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                    diff_id,
                    snapshot: snap,
                }],
                created: None,
                index: None,
            },
            &[Reference::parse_normalized(tag).unwrap()],
        )
        .unwrap()
}

fn build_record(store: &Store, content: &str, key: &str) -> crate::CacheRecord {
    let snap = snapshot(store, content, None);
    store
        .add_record(NewRecord {
            cache_key: Some(key.into()),
            parent: None,
            snapshot: Some(snap),
            ingredients: vec![],
            description: format!("RUN {content}"),
            kind: RecordKind::Regular,
        })
        .unwrap()
}

#[test]
fn a_blob_is_visible_only_under_its_true_digest() {
    let (_d, store) = store();
    let good = Digest::of_bytes(b"hello");
    let b = store
        .put_blob_from_reader(&b"hello"[..], Some(&good))
        .unwrap();
    assert_eq!(b.size, 5);
    assert_eq!(store.read_blob(&good).unwrap(), b"hello");
    let wrong = Digest::of_bytes(b"other");
    let err = store
        .put_blob_from_reader(&b"evil"[..], Some(&wrong))
        .unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(!store.blob_path(&wrong).exists());
    assert!(!store.has_blob(&wrong).unwrap());
    let tmp_left = fs::read_dir(store.root().join("tmp")).unwrap().count();
    assert_eq!(tmp_left, 0, "a refused blob leaves nothing in tmp/");
}

#[test]
fn a_layer_is_unpacked_once() {
    let (_d, store) = store();
    let diff = Digest::of_bytes(b"layer");
    let a = snapshot(&store, "one", Some(diff));
    assert_eq!(store.snapshot_by_diff_id(&diff).unwrap(), Some(a.clone()));
    let b = snapshot(&store, "one", Some(diff));
    assert_eq!(a, b);
    let info = store.snapshot(&a).unwrap().unwrap();
    assert_eq!(info.size, 3);
    assert_eq!(
        fs::read_to_string(store.snapshot_path(&a).join("file")).unwrap(),
        "one"
    );
}

#[test]
fn images_resolve_by_name_id_prefix_and_digest() {
    let (_d, store) = store();
    let img = image(&store, "a", "busybox");
    let by_name = store.resolve_image("busybox").unwrap();
    assert_eq!(by_name.image, img);
    assert_eq!(by_name.refs[0].familiar(), "busybox:latest");
    let short = img.id().short();
    assert_eq!(store.resolve_image(&short).unwrap().image, img);
    assert_eq!(
        store
            .resolve_image(&format!("sha256:{}", &short[..6]))
            .unwrap()
            .image,
        img
    );
    assert_eq!(
        store
            .resolve_image(&img.config.digest.to_string())
            .unwrap()
            .image,
        img
    );
    assert!(matches!(
        store.resolve_image("nope"),
        Err(StoreError::ImageNotFound(_))
    ));
    let dirs = store.image_layer_dirs(&img);
    assert_eq!(fs::read_to_string(dirs[0].join("file")).unwrap(), "a");
    assert_eq!(store.image_config(&img).unwrap(), br#"{"c":"a"}"#);
}

#[test]
fn tags_move_and_untag_leaves_the_image() {
    let (_d, store) = store();
    let a = image(&store, "a", "app:1");
    let b = image(&store, "b", "app:2");
    let r = Reference::parse_normalized("app:1").unwrap();
    let prev = store.tag_image(&b.manifest.digest, &r).unwrap();
    assert_eq!(prev, Some(a.manifest.digest));
    assert_eq!(store.resolve_image("app:1").unwrap().image, b);
    assert_eq!(store.untag(&r).unwrap(), Some(b.manifest.digest));
    assert!(store.resolve_image("app:1").is_err());
    assert_eq!(store.images().unwrap().len(), 2);
}

#[test]
fn removing_an_image_keeps_its_layers_as_cache_until_prune_all() {
    let (_d, store) = store();
    let img = image(&store, "a", "busybox");
    // A new process, as `kiln rmi` is: the loader's leases are gone.
    drop(store);
    let store = Store::open(_d.path()).unwrap();
    let records = store.records().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].kind, RecordKind::SourceImage);
    let removed = store.remove_image(&img.manifest.digest, &NoHolds).unwrap();
    assert_eq!(removed.refs.len(), 1);
    assert!(
        removed.reclaimed > 0,
        "manifest, config and layer blobs freed"
    );
    assert!(!store.blob_path(&img.config.digest).exists());
    let snap = &img.layers[0].snapshot;
    assert!(store.snapshot_path(snap).exists());
    // Plain prune keeps base layers; --all removes them.
    assert!(store
        .prune(&PruneOptions::default(), &NoHolds)
        .unwrap()
        .deleted
        .is_empty());
    let report = store
        .prune(
            &PruneOptions {
                all: true,
                ..Default::default()
            },
            &NoHolds,
        )
        .unwrap();
    assert_eq!(report.deleted.len(), 1);
    assert_eq!(report.reclaimed, 1);
    assert!(!store.snapshot_path(snap).exists());
    assert!(store.check(false, &NoHolds).unwrap().is_healthy());
}

#[test]
fn prune_never_removes_what_an_image_needs() {
    let (d, store) = store();
    let img = image(&store, "a", "busybox");
    drop(store);
    let store = Store::open(d.path()).unwrap();
    let report = store
        .prune(
            &PruneOptions {
                all: true,
                ..Default::default()
            },
            &NoHolds,
        )
        .unwrap();
    assert!(report.deleted.is_empty());
    assert_eq!(report.reclaimed, 0);
    assert!(store.snapshot_path(&img.layers[0].snapshot).exists());
    assert!(store.blob_path(&img.layers[0].blob.digest).exists());
}

#[test]
fn prune_spares_what_a_live_process_has_leased() {
    let (d, builder) = store();
    let rec = build_record(&builder, "x", "k1");
    let pruner = Store::open(d.path()).unwrap();
    // Not leased by a snapshot commit? It is: the builder committed it.
    let report = pruner.prune(&PruneOptions::default(), &NoHolds).unwrap();
    assert!(report.deleted.is_empty(), "{report:?}");
    drop(builder);
    let report = pruner.prune(&PruneOptions::default(), &NoHolds).unwrap();
    assert_eq!(report.deleted, vec![rec.id]);
    assert_eq!(report.reclaimed, 1);
}

#[test]
fn prune_is_least_recently_used_first_within_keep_storage() {
    let (d, store) = store();
    let old = build_record(&store, "aaaa", "k1");
    let _mid = build_record(&store, "bbbb", "k2");
    std::thread::sleep(Duration::from_millis(5));
    let new = build_record(&store, "cccc", "k3");
    store.use_record(&old.id).unwrap();
    drop(store);
    let store = Store::open(d.path()).unwrap();
    let report = store
        .prune(
            &PruneOptions {
                keep_storage: Some(8),
                ..Default::default()
            },
            &NoHolds,
        )
        .unwrap();
    assert_eq!(report.deleted.len(), 1);
    assert_eq!(report.reclaimed, 4);
    let left: Vec<String> = store.records().unwrap().into_iter().map(|r| r.id).collect();
    assert!(left.contains(&old.id) && left.contains(&new.id), "{left:?}");
    assert!(store.record_by_key("k2").unwrap().is_none());
    assert_eq!(store.record_by_key("k3").unwrap().unwrap().id, new.id);
}

#[test]
fn prune_until_keeps_recently_used_records() {
    let (d, store) = store();
    build_record(&store, "a", "k1");
    drop(store);
    let store = Store::open(d.path()).unwrap();
    let opts = PruneOptions {
        until: Some(Duration::from_secs(3600)),
        ..Default::default()
    };
    assert!(store.prune(&opts, &NoHolds).unwrap().deleted.is_empty());
    let opts = PruneOptions {
        until: Some(Duration::ZERO),
        ..Default::default()
    };
    assert_eq!(store.prune(&opts, &NoHolds).unwrap().deleted.len(), 1);
}

#[test]
fn prune_keeps_a_parent_while_its_child_stays() {
    let (d, store) = store();
    let parent = build_record(&store, "p", "kp");
    let snap = snapshot(&store, "c", None);
    let child = store
        .add_record(NewRecord {
            cache_key: Some("kc".into()),
            parent: Some(parent.id.clone()),
            snapshot: Some(snap),
            ingredients: vec![],
            description: "child".into(),
            kind: RecordKind::Regular,
        })
        .unwrap();
    store.use_record(&child.id).unwrap();
    drop(store);
    let store = Store::open(d.path()).unwrap();
    // Budget allows only one record: the LRU one is the parent, but the
    // child stays, so the parent must stay too.
    let report = store
        .prune(
            &PruneOptions {
                keep_storage: Some(1),
                ..Default::default()
            },
            &NoHolds,
        )
        .unwrap();
    assert_eq!(report.deleted.len(), 0, "{report:?}");
    let report = store.prune(&PruneOptions::default(), &NoHolds).unwrap();
    assert_eq!(report.deleted.len(), 2);
}

#[test]
fn check_finds_and_repairs_a_corrupt_blob_and_its_image() {
    let (d, store) = store();
    let img = image(&store, "a", "busybox");
    assert!(store.check(false, &NoHolds).unwrap().problems.is_empty());
    fs::write(store.blob_path(&img.config.digest), b"bit rot").unwrap();
    let report = store.check(false, &NoHolds).unwrap();
    assert!(!report.is_healthy());
    let text: Vec<String> = report
        .problems
        .iter()
        .map(|p| p.description.clone())
        .collect();
    assert!(text.iter().any(|t| t.contains("is corrupt")), "{text:?}");
    let report = store.check(true, &NoHolds).unwrap();
    assert!(report.is_healthy());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.description.contains("image")),
        "{report:?}"
    );
    assert!(store.resolve_image("busybox").is_err());
    assert!(d.path().join("quarantine").read_dir().unwrap().count() >= 1);
    assert!(store.check(false, &NoHolds).unwrap().problems.is_empty());
}

#[test]
fn check_repairs_a_missing_snapshot() {
    let (_d, store) = store();
    let rec = build_record(&store, "x", "k");
    let snap = rec.snapshot.clone().unwrap();
    fs::remove_dir_all(store.snapshot_path(&snap)).unwrap();
    let report = store.check(false, &NoHolds).unwrap();
    assert!(!report.is_healthy());
    let report = store.check(true, &NoHolds).unwrap();
    assert!(report.is_healthy(), "{report:?}");
    assert!(store.record(&rec.id).unwrap().is_none());
    assert!(store.record_by_key("k").unwrap().is_none());
    assert!(store.check(false, &NoHolds).unwrap().problems.is_empty());
}

#[test]
fn check_notices_a_changed_snapshot() {
    let (_d, store) = store();
    let rec = build_record(&store, "x", "k");
    let path = store.snapshot_path(rec.snapshot.as_ref().unwrap());
    fs::write(path.join("file"), "y").unwrap();
    let report = store.check(false, &NoHolds).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.description.contains("changed")),
        "{report:?}"
    );
}

#[test]
fn a_crashed_writers_tmp_is_cleaned_by_check() {
    let (d, store) = store();
    fs::create_dir(d.path().join("tmp/0deadlease-snapshot-0")).unwrap();
    let mine = store.new_snapshot_staging().unwrap();
    let report = store.check(false, &NoHolds).unwrap();
    assert_eq!(report.tmp_removed, 1);
    assert!(mine.path().exists(), "a live process's staging is kept");
}

#[test]
fn records_find_by_prefix_and_count_uses() {
    let (_d, store) = store();
    let rec = build_record(&store, "x", "k");
    let found = store.find_record(&rec.id[..6]).unwrap();
    assert_eq!(found.id, rec.id);
    let used = store.use_record(&rec.id).unwrap();
    assert_eq!(used.usage_count, 1);
    assert!(used.last_used >= rec.last_used);
    assert!(store.find_record("../etc").is_err());
    let du = store.disk_usage().unwrap();
    assert_eq!(du.records.len(), 1);
    assert_eq!(du.totals().total, 1);
    assert!(!du.records[0].reclaimable, "leased by this process");
}

#[test]
fn compressed_variants_are_remembered_while_the_layer_lives() {
    let (_d, store) = store();
    let diff = Digest::of_bytes(b"l");
    let _snap = snapshot(&store, "l", Some(diff));
    let gz = store.put_blob_bytes(b"gzipped").unwrap();
    store.record_compressed_variant(&diff, "gzip", &gz).unwrap();
    assert_eq!(store.compressed_variant(&diff, "gzip").unwrap(), Some(gz));
    assert_eq!(store.compressed_variant(&diff, "zstd").unwrap(), None);
}

#[test]
fn records_from_a_newer_kiln_still_load() {
    let json = br#"{"id":"abc","created":{"secs_since_epoch":1,"nanos_since_epoch":0},
        "last_used":{"secs_since_epoch":1,"nanos_since_epoch":0},"kind":"exec.future",
        "new_field":[1,2]}"#;
    let r: crate::CacheRecord = serde_json::from_slice(json).unwrap();
    assert_eq!(r.kind, RecordKind::Unknown);
    assert!(r.created < SystemTime::now());
}

#[test]
fn reads_leave_meta_db_untouched() {
    let (dir, store) = store();
    let img = image(&store, "r", "busybox");
    let db = dir.path().join("meta.db");
    let before = fs::read(&db).unwrap();
    // Another process's view: a fresh Store on the same root.
    let other = Store::open(dir.path()).unwrap();
    assert_eq!(other.resolve_image("busybox").unwrap().image, img);
    assert_eq!(other.images().unwrap().len(), 1);
    assert!(other.record_by_key("no-such-key").unwrap().is_none());
    assert!(other.take_cached(&["no-such-key"]).unwrap().is_empty());
    assert!(fs::read(&db).unwrap() == before, "a read wrote to meta.db");
    // A write after reads in one store still lands.
    other
        .tag_image(
            &img.manifest.digest,
            &Reference::parse_normalized("again").unwrap(),
        )
        .unwrap();
    assert_eq!(store.resolve_image("again").unwrap().image, img);
}

/// Rewrites `path` in redb 2's file format with the same tables, as kiln
/// before redb 4 left it.
fn downgrade(path: &std::path::Path) {
    use redb::{ReadableDatabase, ReadableTable};
    const STRS: [&str; 4] = ["refs", "diff_ids", "record_keys", "info"];
    const JSONS: [&str; 4] = ["images", "snapshots", "variants", "records"];
    let new = redb::ReadOnlyDatabase::open(path).unwrap();
    let rx = new.begin_read().unwrap();
    let old_path = path.with_extension("v2");
    let old = redb2::Database::create(&old_path).unwrap();
    let wx = old.begin_write().unwrap();
    for name in STRS {
        let from = rx.open_table(redb::TableDefinition::<&str, &str>::new(name));
        let mut to = wx
            .open_table(redb2::TableDefinition::<&str, &str>::new(name))
            .unwrap();
        for row in from.unwrap().iter().unwrap() {
            let (k, v) = row.unwrap();
            to.insert(k.value(), v.value()).unwrap();
        }
    }
    for name in JSONS {
        let from = rx.open_table(redb::TableDefinition::<&str, &[u8]>::new(name));
        let mut to = wx
            .open_table(redb2::TableDefinition::<&str, &[u8]>::new(name))
            .unwrap();
        for row in from.unwrap().iter().unwrap() {
            let (k, v) = row.unwrap();
            to.insert(k.value(), v.value()).unwrap();
        }
    }
    wx.commit().unwrap();
    drop((rx, new, old));
    fs::rename(&old_path, path).unwrap();
}

#[test]
fn a_meta_db_of_redb_2_is_upgraded_with_its_entries() {
    let (dir, store) = store();
    let img = image(&store, "old", "busybox:1");
    let db = dir.path().join("meta.db");
    downgrade(&db);
    assert!(matches!(
        redb::ReadOnlyDatabase::open(&db),
        Err(redb::DatabaseError::UpgradeRequired(2))
    ));
    // A read alone upgrades (it cannot be done read-only), then reads.
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.resolve_image("busybox:1").unwrap().image, img);
    assert!(redb::ReadOnlyDatabase::open(&db).is_ok(), "still format 2");
    let again = image(&reopened, "new", "busybox:2");
    assert_eq!(store.resolve_image("busybox:2").unwrap().image, again);
}

fn prune_all() -> PruneOptions {
    PruneOptions {
        all: true,
        ..Default::default()
    }
}

fn container_on(img: &ImageRecord) -> Vec<crate::Hold> {
    vec![crate::Hold {
        holder: "stopped container c0ffee".into(),
        image: Some(*img.id()),
        snapshots: img.layers.iter().map(|l| l.snapshot.clone()).collect(),
    }]
}

#[test]
fn a_container_keeps_its_image_and_its_layers() {
    let (d, store) = store();
    let img = image(&store, "a", "busybox");
    drop(store);
    let store = Store::open(d.path()).unwrap();
    let holds = container_on(&img);
    let refused = store.remove_image(&img.manifest.digest, &holds);
    match refused {
        Err(StoreError::ImageInUse { holder, .. }) => assert!(holder.contains("c0ffee")),
        other => panic!("rmi of a container's image: {other:?}"),
    }
    assert!(store.image(&img.manifest.digest).unwrap().is_some());
    // The image goes another way (an older kiln, `rmi -f` elsewhere): the
    // container's layers are still roots of every collection.
    store.remove_image(&img.manifest.digest, &NoHolds).unwrap();
    let report = store.prune(&prune_all(), &holds).unwrap();
    assert!(report.deleted.is_empty(), "{report:?}");
    store.collect_garbage(&holds).unwrap();
    let snap = &img.layers[0].snapshot;
    assert!(store.snapshot_path(snap).join("file").exists());
    assert!(store.check(false, &holds).unwrap().is_healthy());
    // Once they are gone (collected without the container), check says so.
    store.prune(&prune_all(), &NoHolds).unwrap();
    assert!(!store.snapshot_path(snap).exists());
    let report = store.check(true, &holds).unwrap();
    assert!(!report.is_healthy());
    assert!(
        report.problems[0].description.contains("c0ffee")
            && report.problems[0].description.contains(snap.as_str()),
        "{:?}",
        report.problems
    );
}

#[test]
fn holds_that_cannot_be_listed_stop_the_collection() {
    struct Broken;
    impl crate::Holds for Broken {
        fn holds(&self) -> Result<Vec<crate::Hold>, crate::HoldsError> {
            Err(crate::HoldsError("containers/x/config.json: bad".into()))
        }
    }
    let (d, store) = store();
    let rec = build_record(&store, "x", "k1");
    drop(store);
    let store = Store::open(d.path()).unwrap();
    assert!(matches!(
        store.prune(&prune_all(), &Broken),
        Err(StoreError::Holds(_))
    ));
    assert!(store.record(&rec.id).unwrap().is_some());
}

#[test]
fn a_resolved_image_is_leased_until_its_process_ends() {
    let (d, store) = store();
    let img = image(&store, "a", "busybox");
    drop(store);
    let builder = Store::open(d.path()).unwrap();
    builder.resolve_image("busybox").unwrap();
    let pruner = Store::open(d.path()).unwrap();
    pruner.remove_image(&img.manifest.digest, &NoHolds).unwrap();
    pruner.prune(&prune_all(), &NoHolds).unwrap();
    let snap = &img.layers[0].snapshot;
    assert!(pruner.snapshot_path(snap).exists(), "leased by the builder");
    assert!(pruner.blob_path(&img.layers[0].blob.digest).exists());
    drop(builder);
    pruner.prune(&prune_all(), &NoHolds).unwrap();
    assert!(!pruner.snapshot_path(snap).exists());
}

#[test]
fn a_store_that_only_reads_makes_no_lease_and_one_that_leases_makes_one() {
    let (d, store) = store();
    image(&store, "a", "busybox");
    drop(store);
    let leases = || {
        fs::read_dir(d.path().join("locks"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("lease-"))
            .count()
    };
    let reader = Store::open(d.path()).unwrap();
    reader.find_image("busybox").unwrap();
    assert_eq!(leases(), 0, "a lookup that leases nothing");
    reader.resolve_image("busybox").unwrap();
    reader.resolve_image("busybox").unwrap();
    assert_eq!(leases(), 1, "one per process, made when first needed");
    drop(reader);
    assert_eq!(leases(), 0);
}
