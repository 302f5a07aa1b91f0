//! Store figures: how long `cache du` and `images` take with 20,000 cache
//! records, and what one metadata operation costs (the database is opened
//! per operation, under the store lock). Populates a root through the
//! public API, then times the API and, when built, the `kiln` binary.
//!
//! `KILN=$(scripts/release.sh) cargo bench -p kiln-cache --bench store`
//! (KILN_BENCH_RECORDS to change the count, KILN_BENCH_ROOT to keep the
//! root; without KILN, target/release/kiln is timed if it exists).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kiln_cache::{
    Digest, LayerRecord, NewImage, NewRecord, NewSnapshot, RecordKind, Reference, SnapshotId, Store,
};

const SNAPSHOTS: usize = 500;
const IMAGES: usize = 50;

fn main() {
    let records: usize = std::env::var("KILN_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let keep = std::env::var("KILN_BENCH_ROOT").ok().map(PathBuf::from);
    let temp = tempfile::tempdir().expect("temp dir");
    let root = keep.unwrap_or_else(|| temp.path().to_path_buf());
    let store = Store::open(&root).expect("store");

    let t = Instant::now();
    let snaps = populate_snapshots(&store);
    report("commit_snapshot (1 small file)", t.elapsed(), SNAPSHOTS);
    let t = Instant::now();
    populate_images(&store, &snaps);
    report("add_image (1 layer, 3 blobs)", t.elapsed(), IMAGES);
    let t = Instant::now();
    populate_records(&store, &snaps, records);
    report("add_record", t.elapsed(), records);
    drop(store);

    let store = Store::open(&root).expect("store");
    let any = store.records().expect("records")[0].id.clone();
    time("Store::record (one lookup)", 200, || {
        store.record(&any).expect("record");
    });
    time("Store::disk_usage (cache du)", 10, || {
        assert!(store.disk_usage().expect("du").records.len() >= records);
    });
    time("Store::images (images)", 10, || {
        assert!(store.images().expect("images").len() >= IMAGES);
    });
    // Each image write looks up which layer snapshots already have records.
    let mut next = IMAGES;
    time("Store::add_image (records present)", 10, || {
        add_image(&store, &snaps[next], next);
        next += 1;
    });
    drop(store);
    // The binary scripts/release.sh prints, when given; a stale build
    // from before the store's format change would not open this root.
    let kiln = std::env::var_os("KILN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/kiln"));
    if kiln.exists() {
        for args in [
            &["cache", "du"][..],
            &["cache", "du", "--verbose"],
            &["images"],
            &["system", "df"],
        ] {
            time(&format!("kiln {}", args.join(" ")), 5, || {
                let o = Command::new(&kiln)
                    .arg("--root")
                    .arg(&root)
                    .args(args)
                    .output()
                    .expect("kiln runs");
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            });
        }
    } else {
        println!("(build target/release/kiln to time the binary too)");
    }
}

fn populate_snapshots(store: &Store) -> Vec<(SnapshotId, Digest)> {
    (0..SNAPSHOTS)
        .map(|i| {
            let staging = store.new_snapshot_staging().expect("staging");
            fs::write(staging.path().join("f"), vec![b'x'; 1000 + i]).expect("write");
            let diff_id = Digest::of_bytes(format!("layer {i}").as_bytes());
            let id = store
                .commit_snapshot(
                    staging,
                    NewSnapshot {
                        diff_id: Some(diff_id),
                        tar_size: None,
                        parent: None,
                        created_by: format!("RUN step {i}"),
                    },
                )
                .expect("commit");
            (id, diff_id)
        })
        .collect()
}

fn populate_images(store: &Store, snaps: &[(SnapshotId, Digest)]) {
    for (i, snap) in snaps.iter().take(IMAGES).enumerate() {
        add_image(store, snap, i);
    }
}

/// Image `i` of one layer, tagged `bench/img<i>`.
fn add_image(store: &Store, (snapshot, diff_id): &(SnapshotId, Digest), i: usize) {
    let blob = |s: String| store.put_blob_bytes(s.as_bytes()).expect("blob");
    let image = NewImage {
        manifest: blob(format!("manifest {i}")),
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        config: blob(format!("config {i}")),
        layers: vec![LayerRecord {
            blob: blob(format!("layer {i}")),
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            diff_id: *diff_id,
            snapshot: snapshot.clone(),
        }],
        created: None,
        index: None,
    };
    let tag = Reference::parse_normalized(&format!("bench/img{i}:latest")).expect("ref");
    store.add_image(image, &[tag]).expect("add image");
}

fn populate_records(store: &Store, snaps: &[(SnapshotId, Digest)], n: usize) {
    for i in 0..n {
        store
            .add_record(NewRecord {
                cache_key: Some(blake3::hash(&i.to_le_bytes()).to_hex().to_string()),
                parent: None,
                snapshot: Some(snaps[i % snaps.len()].0.clone()),
                ingredients: vec![kiln_cache::Ingredient {
                    name: "instruction".into(),
                    value: format!("RUN make target{i}"),
                }],
                description: format!("[build {}/9] RUN make target{i}", i % 9 + 1),
                kind: RecordKind::Regular,
            })
            .expect("add record");
    }
}

fn report(what: &str, total: Duration, n: usize) {
    println!(
        "{what:<36} {n:>6} in {:>8.2?}  ({:.2?} each)",
        total,
        total / n.max(1) as u32
    );
}

fn time(what: &str, runs: u32, mut f: impl FnMut()) {
    f();
    let t = Instant::now();
    for _ in 0..runs {
        f();
    }
    let each = t.elapsed() / runs;
    println!("{what:<36} {each:>10.2?} per run (mean of {runs})");
}
