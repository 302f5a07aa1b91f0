//! Imported caches are someone else's files: manifests and configs that
//! are malformed, lie about digests or sizes, or name layers they do not
//! list must fail typed or match nothing, never panic. Then which stages
//! a build with an imported cache still runs.

use std::cell::Cell;

use serde_json::json;

use super::*;
use crate::dispatch::walk_tests::{dispatch_all, empty_context};
use crate::dispatch::Dispatched;
use crate::plan::Plan;
use crate::remotecache::format::{CacheMountBlob, CacheResult, CACHE_MOUNT_MEDIA_TYPE, VERSION};
use crate::variables::{BuildArgs, Scope};

/// Blobs nobody may read: steps without layers never open one.
struct NoBlobs;

impl BlobSource for NoBlobs {
    fn describe(&self) -> String {
        "nowhere".into()
    }

    fn open(&self, digest: &Digest, _: u64) -> Result<Box<dyn Read + Send + '_>, CacheError> {
        panic!("opened {digest}")
    }
}

/// Serves one blob, whatever is asked for.
struct Serves(Vec<u8>);

impl BlobSource for Serves {
    fn describe(&self) -> String {
        "test".into()
    }

    fn open(&self, _: &Digest, size: u64) -> Result<Box<dyn Read + Send + '_>, CacheError> {
        Ok(Box::new(io::Cursor::new(self.0.clone()).take(size)))
    }
}

fn entry(key: &str, diff_id: Option<&str>) -> CacheEntry {
    CacheEntry {
        key: key.into(),
        parent: "scratch".into(),
        description: format!("step {key}"),
        ingredients: Vec::new(),
        diff_id: diff_id.map(str::to_string),
    }
}

fn loaded(records: Vec<CacheEntry>, layers: Vec<CacheLayer>) -> Loaded {
    Loaded {
        config: CacheConfig {
            version: VERSION,
            records,
            layers,
            ..CacheConfig::default()
        },
        source: Box::new(NoBlobs),
    }
}

fn sha(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// A manifest whose config descriptor is `config`, and a fetch that
/// serves `blob` (recording the size asked for).
fn load(
    config: serde_json::Value,
    blob: &[u8],
    asked: &Cell<u64>,
) -> Result<CacheConfig, CacheError> {
    let manifest = serde_json::to_vec(&json!({ "config": config, "layers": [] })).unwrap();
    load_manifest(&manifest, &|_, size| {
        asked.set(size);
        Ok(blob.to_vec())
    })
}

fn descriptor(blob: &[u8], size: serde_json::Value) -> serde_json::Value {
    json!({
        "mediaType": CACHE_CONFIG_MEDIA_TYPE,
        "digest": Digest::of_bytes(blob).to_string(),
        "size": size,
    })
}

#[test]
fn manifests_that_are_not_json_objects_are_refused() {
    let never = |_: &Digest, _: u64| -> Result<Vec<u8>, CacheError> { panic!("fetched") };
    assert!(matches!(
        load_manifest(b"", &never),
        Err(CacheError::Manifest(_))
    ));
    assert!(matches!(
        load_manifest(b"{\"config\":", &never),
        Err(CacheError::Manifest(_))
    ));
    for doc in [
        "[]",
        "7",
        "null",
        "{}",
        r#"{"config": 1}"#,
        r#"{"config": {"digest": 5}}"#,
    ] {
        assert!(
            matches!(
                load_manifest(doc.as_bytes(), &never),
                Err(CacheError::NoConfigDigest)
            ),
            "{doc}"
        );
    }
    let bad_digest = r#"{"config": {"digest": "sha256:../../etc/passwd"}}"#;
    assert!(matches!(
        load_manifest(bad_digest.as_bytes(), &never),
        Err(CacheError::NoConfigDigest)
    ));
}

#[test]
fn a_config_that_does_not_match_its_digest_is_refused() {
    let asked = Cell::new(0);
    let mut desc = descriptor(b"{}", json!(2));
    desc["digest"] = json!(sha('a'));
    assert!(matches!(
        load(desc, b"{}", &asked),
        Err(CacheError::ConfigDigest(_))
    ));
}

#[test]
fn the_declared_size_bounds_the_read_and_is_capped() {
    let blob = serde_json::to_vec(&CacheConfig::default()).unwrap();
    let asked = Cell::new(0);
    load(descriptor(&blob, json!(u64::MAX)), &blob, &asked).unwrap();
    assert_eq!(asked.get(), 64 << 20);
    for size in [json!(-1), json!("12"), json!(null)] {
        // The fetch gets 0 bytes to read; what it returns is still verified.
        let _ = load(descriptor(&blob, size.clone()), &blob, &asked);
        assert_eq!(asked.get(), 0, "{size}");
    }
}

#[test]
fn a_cache_config_of_the_wrong_shape_is_refused() {
    let asked = Cell::new(0);
    for blob in [
        &b"[]"[..],
        b"{\"version\": 1, \"records\": [{\"key\": 1}]}",
        b"\xff",
    ] {
        assert!(
            matches!(
                load(descriptor(blob, json!(blob.len())), blob, &asked),
                Err(CacheError::Config(_))
            ),
            "{blob:?}"
        );
    }
}

#[test]
fn a_cache_config_round_trips_through_its_manifest() {
    let config = CacheConfig {
        version: VERSION,
        records: vec![entry("k1", Some(&sha('1')))],
        layers: vec![CacheLayer {
            diff_id: sha('1'),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            digest: sha('2'),
            size: 9,
        }],
        results: vec![CacheResult {
            key: "k1".into(),
            created: "2025-01-01T00:00:00Z".into(),
        }],
        cache_mounts: vec![CacheMountBlob {
            id: "apt".into(),
            media_type: CACHE_MOUNT_MEDIA_TYPE.into(),
            digest: sha('3'),
            size: 12,
        }],
    };
    let blob = serde_json::to_vec(&config).unwrap();
    let asked = Cell::new(0);
    assert_eq!(
        load(descriptor(&blob, json!(blob.len())), &blob, &asked).unwrap(),
        config
    );
}

#[test]
fn an_image_config_without_an_inline_cache_is_no_cache() {
    let blob = br#"{"rootfs": {"diff_ids": []}}"#;
    let mut desc = descriptor(blob, json!(blob.len()));
    desc["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let asked = Cell::new(0);
    assert!(matches!(
        load(desc, blob, &asked),
        Err(CacheError::NoInlineCache)
    ));
}

#[test]
fn a_failing_fetch_fails_the_load_with_its_own_error() {
    let manifest = serde_json::to_vec(&json!({"config": {"digest": sha('a'), "size": 2}})).unwrap();
    let failing = |_: &Digest, _: u64| -> Result<Vec<u8>, CacheError> {
        Err(CacheError::NoManifest { dir: "/c".into() })
    };
    assert!(matches!(
        load_manifest(&manifest, &failing),
        Err(CacheError::NoManifest { .. })
    ));
}

#[test]
fn a_record_whose_layer_is_not_listed_matches_nothing() {
    let caches = [
        loaded(vec![entry("k", Some(&sha('1')))], Vec::new()),
        loaded(vec![entry("k", None), entry("k2", None)], Vec::new()),
    ];
    let found = find(&caches, "k").expect("the second cache answers");
    assert!(found.layer.is_none());
    assert_eq!(found.entry.description, "step k");
    assert!(find(&caches[..1], "k").is_none());
    assert!(find(&caches, "unknown").is_none());
}

#[test]
fn created_comes_from_the_first_cache_that_recorded_the_result() {
    let mut a = loaded(Vec::new(), Vec::new());
    a.config.results.push(CacheResult {
        key: "final".into(),
        created: "2001-01-01T00:00:00Z".into(),
    });
    let b = loaded(Vec::new(), Vec::new());
    let caches = [b, a];
    assert_eq!(created_for(&caches, "final"), Some("2001-01-01T00:00:00Z"));
    assert_eq!(created_for(&caches, "other"), None);
}

#[test]
fn reuse_created_replaces_only_this_builds_times() {
    let now = "2026-01-01T00:00:00Z";
    let then = "2020-01-01T00:00:00Z";
    let mut config = kiln_cache::image::ImageConfig::scratch("amd64");
    config.doc["created"] = json!(now);
    config.doc["history"] = json!([
        {"created": "2019-05-05T00:00:00Z", "created_by": "base"},
        {"created": now, "created_by": "RUN x"},
        {"created_by": "no time"},
    ]);
    reuse_created(&mut config, now, then);
    assert_eq!(config.doc["created"], json!(then));
    let times: Vec<_> = config.doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.get("created").cloned())
        .collect();
    assert_eq!(
        times,
        [Some(json!("2019-05-05T00:00:00Z")), Some(json!(then)), None]
    );
    // A history that is not a list is left as it is.
    config.doc["history"] = json!("odd");
    reuse_created(&mut config, then, now);
    assert_eq!(config.doc["history"], json!("odd"));
}

#[test]
fn a_layer_with_a_bad_digest_or_media_type_is_refused_before_any_read() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let layer = |digest: &str, media_type: &str| CacheLayer {
        diff_id: sha('1'),
        media_type: media_type.into(),
        digest: digest.into(),
        size: 4,
    };
    let gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    let Err(e) = fetch_layer(&store, &layer("sha256:zz", gzip), &NoBlobs) else {
        panic!("a malformed digest was fetched");
    };
    let BuildError::RemoteCache(e) = e else {
        panic!("{e:?}");
    };
    assert!(
        matches!(
            *e,
            CacheError::Layer {
                source: LayerError::Digest(_),
                ..
            }
        ),
        "{e:?}"
    );
    let Err(BuildError::RemoteCache(e)) =
        fetch_layer(&store, &layer(&sha('2'), "text/html"), &NoBlobs)
    else {
        panic!("an unknown media type was fetched");
    };
    assert!(
        matches!(&*e, CacheError::Layer { source: LayerError::MediaType(m), .. } if m == "text/html"),
        "{e:?}"
    );
}

#[test]
fn a_blob_that_does_not_match_its_digest_never_enters_the_store() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let layer = CacheLayer {
        diff_id: sha('1'),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        digest: sha('2'),
        size: 1 << 10,
    };
    assert!(fetch_layer(&store, &layer, &Serves(b"not the layer".to_vec())).is_err());
    let digest = Digest::parse(&sha('2')).unwrap();
    assert!(!store.has_blob(&digest).unwrap());
}

/// Every stage of `text` dispatched (context empty), with their dependencies.
fn dispatched(store: &Store, text: &str) -> (Dispatched, HashMap<usize, Vec<usize>>) {
    let df = kiln_parser::parse(text.as_bytes()).unwrap();
    let mut plan = Plan::new(&df).unwrap();
    let last = plan.stages.len() - 1;
    // Stage dependencies are known once the target's needs are.
    plan.needed(last, &Scope::default()).unwrap();
    let build_args = BuildArgs::new(Default::default());
    let done = dispatch_all(store, &plan, text, &build_args, &empty_context).unwrap();
    let deps = (0..plan.stages.len()).map(|i| (i, plan.deps(i))).collect();
    (done, deps)
}

const TWO_STAGES: &str = "FROM scratch AS dep\nCOPY a /a\n\
    FROM scratch AS unused\nCOPY b /b\n\
    FROM scratch\nCOPY --from=dep /a /a\nWORKDIR /w\n";

/// The stages that still run when the cache answers the target's steps
/// with `answered` of them (by position).
fn still_run(answered: &[usize]) -> (BTreeSet<usize>, Vec<String>) {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let (done, deps) = dispatched(&store, TWO_STAGES);
    let target = &done[&2];
    let records = answered
        .iter()
        .map(|&i| entry(&target.steps[i].key, None))
        .collect();
    let caches = [loaded(records, Vec::new())];
    let scope = CacheScope {
        store: &store,
        plans: &done,
        target: 2,
        imported: &caches,
    };
    let (tx, _rx) = std::sync::mpsc::channel();
    let progress = Progress::new(tx);
    let run = prepare(&scope, &deps, &progress, &AtomicUsize::new(0)).unwrap();
    let taken = answered
        .iter()
        .filter_map(|&i| store.record_by_key(&target.steps[i].key).unwrap())
        .map(|r| r.description)
        .collect();
    (run, taken)
}

#[test]
fn a_fully_answered_target_runs_alone_and_its_steps_become_records() {
    let (run, taken) = still_run(&[0, 1]);
    assert_eq!(run.into_iter().collect::<Vec<_>>(), [2]);
    assert_eq!(taken.len(), 2, "imported steps are local records now");
}

#[test]
fn a_step_nobody_answers_runs_the_stages_it_reads_and_never_unused_ones() {
    let (run, _) = still_run(&[1]);
    assert_eq!(run.into_iter().collect::<Vec<_>>(), [0, 2]);
    let (run, _) = still_run(&[]);
    assert!(!run.contains(&1), "a stage the target never reads");
}

#[test]
fn without_an_imported_cache_the_schedule_is_kept_whole() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let (done, deps) = dispatched(&store, TWO_STAGES);
    let plans: Vec<_> = done.values().cloned().collect();
    let scope = CacheScope {
        store: &store,
        plans: &done,
        target: 2,
        imported: &[],
    };
    let (tx, _rx) = std::sync::mpsc::channel();
    let progress = Progress::new(tx);
    let (kept, kept_deps) = skip_stages(
        &scope,
        (plans, deps.clone()),
        &progress,
        &AtomicUsize::new(0),
    )
    .unwrap();
    assert_eq!((kept.len(), kept_deps), (3, deps));
}
