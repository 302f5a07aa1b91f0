use std::io::Write;
use std::time::Duration;

use super::journal::Journal;
use super::*;

fn event(action: &str, id: &str, secs: u64) -> Event {
    Event::new(EventType::Container, action, id)
        .dated(UNIX_EPOCH + Duration::from_secs(secs))
        .with("name", format!("n-{id}"))
        .with("image", "busybox")
}

fn read(engine: &Engine, opts: &EventsOptions) -> Vec<Event> {
    engine.events(opts).unwrap().map(Result::unwrap).collect()
}

fn actions(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.action.as_str()).collect()
}

#[test]
fn events_come_back_in_order_with_docker_field_names() {
    let root = tempfile::tempdir().unwrap();
    let engine = Engine::new(root.path());
    for (i, a) in ["create", "start", "die"].iter().enumerate() {
        engine
            .record_event(event(a, "abc", 100 + i as u64))
            .unwrap();
    }
    let all = read(&engine, &EventsOptions::default());
    assert_eq!(actions(&all), ["create", "start", "die"]);
    assert_eq!(all[1], event("start", "abc", 101));
    let line = std::fs::read_to_string(root.path().join("events.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(first["Type"], "container");
    assert_eq!(first["Actor"]["ID"], "abc");
    assert_eq!(first["Actor"]["Attributes"]["name"], "n-abc");
    assert_eq!(first["timeNano"], 100_000_000_000i64);
    assert_eq!(first["time"], 100);
}

#[test]
fn a_line_that_is_not_an_event_is_skipped() {
    let root = tempfile::tempdir().unwrap();
    let engine = Engine::new(root.path());
    engine.record_event(event("create", "a", 1)).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(root.path().join("events.jsonl"))
        .unwrap();
    f.write_all(b"{\"Type\":\"container\",\"Act\n\xff\xfe not utf-8\n{}\n")
        .unwrap();
    engine.record_event(event("start", "a", 2)).unwrap();
    assert_eq!(
        actions(&read(&engine, &EventsOptions::default())),
        ["create", "start"]
    );
}

#[test]
fn since_until_and_filters_select() {
    let root = tempfile::tempdir().unwrap();
    let engine = Engine::new(root.path());
    engine.record_event(event("create", "aaa111", 10)).unwrap();
    engine.record_event(event("start", "aaa111", 20)).unwrap();
    engine.record_event(event("create", "bbb222", 30)).unwrap();
    let volume = Event::new(EventType::Volume, "create", "data").dated(UNIX_EPOCH);
    engine.record_event(volume).unwrap();
    let at = |s| Some(UNIX_EPOCH + Duration::from_secs(s));
    let window = EventsOptions {
        since: at(15),
        until: at(30),
        ..EventsOptions::default()
    };
    let got = read(&engine, &window);
    assert_eq!(actions(&got), ["start", "create"]);
    let only = |filters: EventFilters| {
        let opts = EventsOptions {
            filters,
            ..EventsOptions::default()
        };
        read(&engine, &opts)
            .into_iter()
            .map(|e| format!("{} {}", e.action, e.actor.id))
            .collect::<Vec<_>>()
    };
    let by_prefix = EventFilters {
        containers: vec!["bbb".into()],
        ..EventFilters::default()
    };
    assert_eq!(only(by_prefix), ["create bbb222"]);
    let by_name_and_action = EventFilters {
        containers: vec!["n-aaa111".into(), "n-bbb222".into()],
        actions: vec!["create".into()],
        ..EventFilters::default()
    };
    assert_eq!(only(by_name_and_action), ["create aaa111", "create bbb222"]);
    let volumes = EventFilters {
        types: vec![EventType::Volume],
        ..EventFilters::default()
    };
    assert_eq!(only(volumes), ["create data"]);
    let image = EventFilters {
        images: vec!["busybox:latest".into()],
        labels: vec![LabelFilter {
            key: "name".into(),
            value: Some("n-aaa111".into()),
            negated: false,
        }],
        ..EventFilters::default()
    };
    assert_eq!(only(image), ["create aaa111", "start aaa111"]);
}

#[test]
fn a_full_journal_rotates_keeping_the_newest() {
    let root = tempfile::tempdir().unwrap();
    let engine = Engine::new(root.path());
    let journal = Journal::with_rotation(root.path(), 2000);
    for i in 0..100 {
        journal.append(&event("start", &i.to_string(), i)).unwrap();
    }
    let size = |p: &str| std::fs::metadata(root.path().join(p)).unwrap().len();
    assert!(size("events.jsonl") <= 2000);
    assert!(size("events.jsonl.1") <= 2000);
    let ids: Vec<u64> = read(&engine, &EventsOptions::default())
        .iter()
        .map(|e| e.actor.id.parse().unwrap())
        .collect();
    assert_eq!(ids.last(), Some(&99));
    assert!(ids.len() < 100 && ids.len() > 10, "{}", ids.len());
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
}

#[test]
fn concurrent_appends_lose_no_line() {
    let root = tempfile::tempdir().unwrap();
    // Short lines go without the lock, long ones under it; all of it
    // stays under the rotation size.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let engine = Engine::new(root.path());
            let (count, pad) = if t < 4 { (100, 1000) } else { (20, 5000) };
            std::thread::spawn(move || {
                for i in 0..count {
                    let e = event("start", &format!("{t}-{i}"), i);
                    engine.record_event(e.with("pad", "x".repeat(pad))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = read(&Engine::new(root.path()), &EventsOptions::default());
    assert_eq!(all.len(), 480);
}

#[test]
fn a_missing_root_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("a/root");
    Engine::new(&root)
        .record_event(event("create", "x", 1))
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o710);
    assert_eq!(mode(&root.join("events.jsonl")), 0o600);
}

#[test]
fn a_follower_sees_what_is_journaled_after_it_started() {
    let root = tempfile::tempdir().unwrap();
    let engine = Engine::new(root.path());
    engine.record_event(event("create", "old", 1)).unwrap();
    let opts = EventsOptions {
        since: Some(UNIX_EPOCH + Duration::from_secs(2)),
        until: Some(SystemTime::now() + Duration::from_secs(3)),
        follow: true,
        ..EventsOptions::default()
    };
    let mut follower = engine.events(&opts).unwrap();
    let writer = engine.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        writer
            .record_event(Event::new(EventType::Container, "start", "new"))
            .unwrap();
    });
    let got = follower.next().unwrap().unwrap();
    assert_eq!(
        (got.action.as_str(), got.actor.id.as_str()),
        ("start", "new")
    );
}
