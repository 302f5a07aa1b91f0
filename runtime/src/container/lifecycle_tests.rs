//! stop, kill, pause, wait and rm on container records in a temporary
//! root, without root: the container's "process" is this test's own pid,
//! which is alive but in no container's cgroup, so a signal sent to it by
//! mistake would end the test run.

use std::time::{Duration, Instant};

use super::*;
use crate::container::state::{hold_monitor_lock, MountPoint};
use crate::testkit::record;

/// A fresh root's containers (`<tmp>/containers`, volumes beside them).
fn containers() -> (tempfile::TempDir, Containers) {
    let tmp = tempfile::tempdir().unwrap();
    let cs = Containers::new(tmp.path().join("containers"));
    (tmp, cs)
}

/// Container `web` as its monitor left it: `status`, with this process
/// standing in for its first process.
fn web(cs: &Containers, status: Status) -> Container {
    let c = cs.create(&record("abc123", "web")).unwrap();
    with_status(&c, status)
}

fn with_status(c: &Container, status: Status) -> Container {
    let state = c
        .update(|s| {
            s.status = status;
            s.pid = std::process::id() as i32;
        })
        .unwrap();
    Container { state, ..c.clone() }
}

fn on_disk(c: &Container) -> State {
    state::read_json(&c.dir.join("state.json")).unwrap()
}

#[test]
fn signals_by_name_or_number() {
    assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
    assert_eq!(parse_signal("sigusr1").unwrap(), Signal::SIGUSR1);
    assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
    assert!(parse_signal("NOPE").is_err());
    assert!(parse_signal("99").is_err());
}

#[test]
fn kill_refuses_a_container_that_is_not_running() {
    let (_tmp, cs) = containers();
    let c = web(&cs, Status::Created);
    for status in [Status::Created, Status::Exited, Status::Dead] {
        let c = with_status(&c, status);
        let e = kill(&c, Signal::SIGKILL).unwrap_err();
        assert_eq!(e.to_string(), "container web is not running");
        assert!(!on_disk(&c).stop_requested, "{status:?}: nothing was asked");
    }
}

#[test]
fn kill_never_signals_a_pid_that_is_no_longer_the_containers() {
    let (_tmp, cs) = containers();
    let c = web(&cs, Status::Running);
    let _monitor = hold_monitor_lock(&c.dir).unwrap();
    let e = kill(&c, Signal::SIGKILL).unwrap_err();
    assert!(matches!(e, Error::NotRunning(_)), "{e}");
    assert!(!on_disk(&c).stop_requested);
}

#[test]
fn stopping_a_stopped_container_only_keeps_it_from_restarting() {
    let (_tmp, cs) = containers();
    let c = web(&cs, Status::Exited);
    c.update(|s| s.exit_code = 137).unwrap();
    let started = Instant::now();
    let s = stop(&c, Duration::from_secs(10)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "nothing to wait for"
    );
    assert_eq!(s.status, Status::Exited);
    assert!(on_disk(&c).stop_requested);
    assert_eq!(on_disk(&c).exit_code, 137);
}

#[test]
fn stopping_a_container_whose_monitor_died_finds_it_dead() {
    let (_tmp, cs) = containers();
    let c = web(&cs, Status::Running);
    let started = Instant::now();
    let s = stop(&c, Duration::from_secs(10)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no timeout waited"
    );
    assert_eq!(s.status, Status::Dead);
    assert_eq!(s.error, "the container's monitor process died");
    assert!(s.stop_requested);
}

#[test]
fn stop_returns_the_state_the_monitor_writes() {
    let (_tmp, cs) = containers();
    let c = web(&cs, Status::Running);
    let monitor = hold_monitor_lock(&c.dir).unwrap();
    let dir = c.dir.clone();
    let ending = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        state::update_state(&dir, |s| {
            s.status = Status::Exited;
            s.exit_code = 143;
        })
        .unwrap();
        drop(monitor);
    });
    let s = stop(&c, Duration::from_secs(5)).unwrap();
    ending.join().unwrap();
    assert_eq!((s.status, s.exit_code), (Status::Exited, 143));
    assert!(s.stop_requested, "the restart policy stands down");
}

#[test]
fn pause_and_unpause_only_from_the_state_they_change() {
    let (_tmp, cs) = containers();
    let c = web(&cs, Status::Created);
    let refused = |status, paused| {
        let c = with_status(&c, status);
        set_paused(&c, paused).unwrap_err().to_string()
    };
    assert_eq!(
        refused(Status::Created, true),
        "container web is not running"
    );
    assert_eq!(
        refused(Status::Exited, false),
        "container web is not paused"
    );
    assert_eq!(
        refused(Status::Running, false),
        "container web is not paused"
    );
    assert_eq!(
        refused(Status::Paused, true),
        "container web is paused: unpause it first"
    );
    // Only a running container is paused for a commit.
    let exited = with_status(&c, Status::Exited);
    drop(PauseGuard::new(&exited).unwrap());
    assert_eq!(on_disk(&exited).status, Status::Exited);
}

#[test]
fn rm_refuses_a_live_container_without_force() {
    let (_tmp, cs) = containers();
    let c = web(&cs, Status::Running);
    let _monitor = hold_monitor_lock(&c.dir).unwrap();
    for (status, word) in [(Status::Running, "running"), (Status::Paused, "paused")] {
        let c = with_status(&c, status);
        let e = remove(&c, false, false).unwrap_err();
        let expected =
            format!("cannot remove container web: it is {word}; stop it first or use -f");
        assert_eq!(e.to_string(), expected);
    }
    assert!(c.dir.is_dir());
    assert!(!on_disk(&c).stop_requested);
}

#[test]
fn rm_force_of_a_container_whose_process_is_gone_removes_it() {
    let (_tmp, cs) = containers();
    let c = web(&cs, Status::Running);
    remove(&c, true, false).unwrap();
    assert!(!c.dir.exists());
    assert!(matches!(cs.find("web"), Err(state::Error::NotFound(_))));
    cs.create(&record("def456", "web")).unwrap();
}

fn volume(name: &str, anonymous: bool) -> MountPoint {
    MountPoint {
        kind: "volume".into(),
        name: name.into(),
        source: std::path::PathBuf::new(),
        destination: format!("/{name}"),
        read_only: false,
        anonymous,
    }
}

#[test]
fn rm_v_removes_the_anonymous_volumes_no_other_container_names() {
    let (tmp, cs) = containers();
    let volumes = Volumes::new(tmp.path().join("volumes"));
    for (name, anonymous) in [("own", true), ("shared", true), ("named", false)] {
        volumes.ensure(name, anonymous, "now").unwrap();
    }
    let mut first = record("abc123", "web");
    first.mounts = vec![
        volume("own", true),
        volume("shared", true),
        volume("named", false),
    ];
    let mut second = record("def456", "db");
    second.mounts = vec![volume("shared", true)];
    let web = cs.create(&first).unwrap();
    cs.create(&second).unwrap();

    remove(&web, false, true).unwrap();
    let left: Vec<String> = volumes
        .list()
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(left, ["named", "shared"]);

    let db = cs.find("db").unwrap();
    remove(&db, false, false).unwrap();
    assert!(volumes.get("shared").is_ok(), "kept without -v");
    assert_eq!(cs.list().unwrap().len(), 0);
}

#[test]
fn wait_waits_for_a_created_container_to_run_and_end() {
    let (_tmp, cs) = containers();
    let c = web(&cs, Status::Created);
    let dir = c.dir.clone();
    let run = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(60));
        state::update_state(&dir, |s| {
            s.status = Status::Exited;
            s.exit_code = 3;
        })
        .unwrap();
    });
    assert_eq!(wait(&c.dir).unwrap(), 3);
    run.join().unwrap();
    assert_eq!(wait(&c.dir).unwrap(), 3, "an ended container at once");
}

#[test]
fn an_auto_removal_holds_for_a_registered_waiter_until_it_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let mut waiter = expect_waiter(dir.path()).unwrap();
    let d = dir.path().to_path_buf();
    let held = std::thread::spawn(move || {
        let start = Instant::now();
        hold_for_waiters(&d);
        start.elapsed()
    });
    std::thread::sleep(Duration::from_millis(100));
    waiter.release();
    let waited = held.join().unwrap();
    assert!(
        waited >= Duration::from_millis(100) && waited < WAITER_HOLD,
        "{waited:?}"
    );
    // No waiter: no hold.
    let start = Instant::now();
    hold_for_waiters(dir.path());
    assert!(start.elapsed() < Duration::from_millis(50));
}
