//! The scheduler's meeting point on its own, with threads standing in for
//! stage workers: a step that reads a stage waits for it and only for it,
//! `--jobs` caps the steps executing at once, and the first failure stops
//! everyone else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_cache::image::ImageConfig;

use super::board::Board;
use super::StageResult;
use crate::cancel::Cancel;
use crate::BuildError;

fn new_board(jobs: usize, stages: &[usize]) -> (Board, Arc<Cancel>) {
    let cancel = Arc::new(Cancel::new());
    let labels = stages.iter().map(|i| (*i, format!("stage{i}"))).collect();
    (Board::new(jobs, labels, cancel.clone()), cancel)
}

fn result(key: &str) -> Result<StageResult, BuildError> {
    Ok(StageResult {
        layers: Vec::new(),
        config: ImageConfig::empty(),
        key: key.into(),
        fresh: true,
        base_layers: 0,
    })
}

fn step_failed() -> BuildError {
    BuildError::StepFailed {
        file: "Dockerfile".into(),
        line: 3,
        step: "[a 2/2] RUN false".into(),
        code: 1,
        last_good: None,
    }
}

/// A pause long enough for another thread to reach its wait.
fn pause() {
    std::thread::sleep(Duration::from_millis(30));
}

#[test]
fn a_step_reading_a_stage_waits_for_it_and_others_do_not() {
    let (board, _) = new_board(4, &[0, 1]);
    let events = Mutex::new(Vec::new());
    let note = &|e: &'static str| events.lock().unwrap().push(e);
    let shared = &board;
    let (started, b_started) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || {
            note("b: step before the COPY --from");
            started.send(()).unwrap();
            let a = shared.wait_for(0).unwrap();
            note("b: COPY --from=a");
            assert_eq!(a.key, "key-a");
            shared.finish(1, result("key-b"));
        });
        s.spawn(move || {
            b_started.recv().unwrap();
            pause();
            note("a: done");
            shared.finish(0, result("key-a"));
        });
    });
    assert_eq!(
        events.into_inner().unwrap(),
        [
            "b: step before the COPY --from",
            "a: done",
            "b: COPY --from=a"
        ]
    );
    let out = board.outcome().unwrap();
    assert_eq!(out[&1].key, "key-b");
    assert_eq!(out.len(), 2);
}

#[test]
fn jobs_caps_the_steps_executing_at_once() {
    for (jobs, cap) in [(2, 2), (1, 1), (0, 1)] {
        let (board, _) = new_board(jobs, &[0]);
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    let _permit = board.permit().unwrap();
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(running, Ordering::SeqCst);
                    pause();
                    now.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(most.into_inner(), cap, "--jobs {jobs}");
    }
}

#[test]
fn the_first_failure_cancels_the_waiting_steps_and_is_the_outcome() {
    let (board, cancel) = new_board(1, &[0, 1, 2]);
    let held = board.permit().unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| board.wait_for(0).map(|_| ()));
        let queued = s.spawn(|| board.permit().map(|_| ()));
        pause();
        board.finish(0, Err(step_failed()));
        assert!(matches!(waiter.join().unwrap(), Err(BuildError::Cancelled)));
        assert!(matches!(queued.join().unwrap(), Err(BuildError::Cancelled)));
    });
    drop(held);
    assert!(cancel.is_cancelled(), "running steps are told to stop");
    board.finish(1, Err(BuildError::Cancelled));
    board.finish(2, result("late"));
    match board.outcome() {
        Err(BuildError::StepFailed { step, code, .. }) => {
            assert_eq!((step.as_str(), code), ("[a 2/2] RUN false", 1));
        }
        other => panic!(
            "expected the step's failure, got {:?}",
            other.map(|r| r.len())
        ),
    }
}

#[test]
fn ctrl_c_wakes_a_waiting_step() {
    let (board, cancel) = new_board(2, &[0, 1]);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| board.wait_for(1).map(|_| ()));
        pause();
        // A signal handler can only set the flag; the waiter polls it.
        cancel.cancel();
        assert!(matches!(waiter.join().unwrap(), Err(BuildError::Cancelled)));
    });
    board.finish(0, Err(BuildError::Cancelled));
    assert!(matches!(board.outcome(), Err(BuildError::Cancelled)));
}

#[test]
fn stages_that_do_not_run_are_never_waited_for() {
    let (board, _) = new_board(1, &[1]);
    assert!(!board.is_scheduled(0));
    assert_eq!(board.label(1), "stage1");
    assert_eq!(board.label(7), "7");
    assert!(matches!(board.wait_for(0), Err(BuildError::Internal(_))));
    let unfinished = board.outcome();
    assert!(matches!(unfinished, Err(BuildError::Internal(_))));

    let (nothing, _) = new_board(1, &[]);
    assert!(nothing.outcome().unwrap().is_empty());
}

#[test]
fn a_stage_built_from_another_inherits_its_empty_layer_marks() {
    let history = |marks: &[bool]| {
        let entries: Vec<serde_json::Value> = marks
            .iter()
            .map(|empty| match empty {
                true => serde_json::json!({"created_by": "ENV", "empty_layer": true}),
                false => serde_json::json!({"created_by": "RUN"}),
            })
            .collect();
        let mut c = ImageConfig::empty();
        c.doc["history"] = serde_json::Value::Array(entries);
        c
    };
    let parent = history(&[false, true]);
    let mut child = history(&[false, false, false]);
    super::inherit_history(&mut child, &parent);
    let marks: Vec<bool> = child.doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.get("empty_layer").is_some())
        .collect();
    assert_eq!(marks, [false, true, false], "the child's own entries kept");
}
