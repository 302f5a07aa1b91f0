use std::time::Duration;

use super::*;

pub(super) fn step(
    vertex: usize,
    name: &str,
    start: u64,
    end: u64,
    depends: &[usize],
) -> StepRecord {
    StepRecord {
        vertex,
        name: name.into(),
        stage: crate::why::history::split_name(name).map(|(s, _, _)| s),
        line: None,
        start,
        end,
        cached: false,
        error: None,
        miss: Vec::new(),
        depends: depends.to_vec(),
    }
}

fn record(id: &str, started: u64, steps: Vec<StepRecord>) -> BuildRecord {
    BuildRecord {
        id: id.into(),
        started,
        finished: started + 10,
        file: "Dockerfile".into(),
        dockerfile_digest: Some("sha256:00".into()),
        options: RecordOptions::of(&BuildOptions::in_context(std::path::Path::new("/ctx"))),
        steps,
        io: Some(IoBytes {
            read: 1,
            written: 2,
        }),
        outcome: Outcome {
            image: Some("sha256:ab".into()),
            error: None,
        },
    }
}

#[test]
fn events_become_timed_steps() {
    let mut r = Recorder::new();
    let name = "[build 2/3] RUN make".to_string();
    r.observe(
        &Event::Cached {
            vertex: 1,
            name: "[build 1/3] FROM busybox".into(),
        },
        100,
    );
    r.observe(
        &Event::Started {
            vertex: 2,
            name: name.clone(),
        },
        200,
    );
    r.observe(
        &Event::Log {
            vertex: 2,
            line: "x".into(),
        },
        250,
    );
    r.observe(
        &Event::Done {
            vertex: 2,
            elapsed: Duration::from_nanos(500),
        },
        900,
    );
    r.observe(
        &Event::Started {
            vertex: 3,
            name: "[build 3/3] RUN false".into(),
        },
        1000,
    );
    r.observe(
        &Event::Failed {
            vertex: 3,
            message: "exit code: 1".into(),
        },
        1300,
    );
    let s = &r.steps;
    assert_eq!((s[0].cached, s[0].start, s[0].end), (true, 100, 100));
    assert_eq!(
        (s[1].start, s[1].end, s[1].stage.as_deref()),
        (200, 700, Some("build"))
    );
    assert_eq!(s[1].text(), "RUN make");
    assert_eq!(
        (s[2].end, s[2].error.as_deref()),
        (1300, Some("exit code: 1"))
    );
}

#[test]
fn the_tee_passes_every_event_on() {
    let (tx, rx) = channel();
    let (out, handle) = Recorder::new().tee(rx);
    tx.send(Event::Started {
        vertex: 1,
        name: "pull".into(),
    })
    .unwrap();
    tx.send(Event::Warning {
        message: "w".into(),
    })
    .unwrap();
    drop(tx);
    assert_eq!(out.iter().count(), 2);
    let r = handle.join().unwrap();
    assert_eq!(r.steps.len(), 1);
    assert_eq!(
        r.steps[0].text(),
        "pull",
        "a vertex outside the stages keeps its name"
    );
}

#[test]
fn records_are_kept_newest_first_and_bounded() {
    let root = tempfile::tempdir().unwrap();
    let store = RecordStore::new(root.path());
    assert!(matches!(store.last(), Err(RecordError::Empty)));
    for i in 0..5u64 {
        store
            .save(&record(&format!("aa{i}"), 1000 + i, vec![]), 3)
            .unwrap();
    }
    // A file of another shape (or half written) is not a record.
    std::fs::write(root.path().join("builds/history/ff.json"), "{").unwrap();
    let ids: Vec<String> = store.list().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["aa4", "aa3", "aa2"]);
    assert_eq!(store.get("aa3").unwrap().started, 1003);
    assert!(matches!(store.get("aa"), Err(RecordError::Ambiguous(_))));
    assert!(matches!(store.get("../x"), Err(RecordError::NotFound(_))));
    assert_eq!(store.remove("aa4").unwrap(), "aa4");
    assert_eq!(store.last().unwrap().id, "aa3");
    let leftovers: Vec<_> = std::fs::read_dir(root.path().join("builds/history"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );
}

#[test]
fn prune_removes_old_records_or_all() {
    let root = tempfile::tempdir().unwrap();
    let store = RecordStore::new(root.path());
    let now = unix_nanos(SystemTime::now());
    store.save(&record("a1", 0, vec![]), 50).unwrap();
    store.save(&record("a2", now, vec![]), 50).unwrap();
    assert_eq!(store.prune(Some(Duration::from_secs(3600))).unwrap(), 1);
    assert_eq!(store.list().unwrap()[0].id, "a2");
    assert_eq!(store.prune(None).unwrap(), 1);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn otlp_has_a_build_span_and_a_child_per_step() {
    let mut cached = step(1, "[b 1/2] FROM busybox", 5, 5, &[]);
    cached.cached = true;
    let mut ran = step(2, "[b 2/2] RUN make", 5, 9, &[1]);
    ran.line = Some(2);
    ran.error = Some("exit code: 2".into());
    let v = otlp::trace(&record("abc", 1, vec![cached, ran]));
    let spans = &v["resourceSpans"][0]["scopeSpans"][0]["spans"];
    let spans = spans.as_array().unwrap();
    assert_eq!(spans.len(), 3);
    let root = &spans[0];
    let trace = root["traceId"].as_str().unwrap();
    assert_eq!(trace.len(), 32);
    assert!(trace.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(root["startTimeUnixNano"], "1");
    assert_eq!(root["endTimeUnixNano"], "11");
    for s in &spans[1..] {
        assert_eq!(s["traceId"], root["traceId"]);
        assert_eq!(s["parentSpanId"], root["spanId"]);
        assert_eq!(s["spanId"].as_str().unwrap().len(), 16);
        assert!(s["startTimeUnixNano"].is_string());
    }
    assert_ne!(spans[1]["spanId"], spans[2]["spanId"]);
    let attr = |s: &serde_json::Value, key: &str| {
        s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"].clone())
    };
    assert_eq!(attr(&spans[1], "kiln.cached").unwrap()["boolValue"], true);
    assert_eq!(attr(&spans[2], "code.lineno").unwrap()["intValue"], "2");
    assert_eq!(attr(&spans[2], "kiln.vertex").unwrap()["intValue"], "2");
    assert_eq!(spans[2]["status"]["code"], 2);
    assert_eq!(spans[1]["status"]["code"], 1);
}
