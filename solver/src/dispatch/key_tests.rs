//! Cache keys as dispatch computes them: stable, following what a step sees.

use super::walk_tests::{dispatch_all, empty_context};
use super::*;
use crate::plan::Plan;

/// Keys of every step of the last stage of `text`, built FROM scratch.
fn keys(text: &str, args: &[(&str, &str)]) -> Vec<String> {
    let last = last_stage(text, args);
    last.steps.iter().map(|s| s.key.clone()).collect()
}

/// The last stage of `text`, dispatched.
pub(super) fn last_stage(text: &str, args: &[(&str, &str)]) -> Arc<StagePlan> {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let df = kiln_parser::parse(text.as_bytes()).unwrap();
    let plan = Plan::new(&df).unwrap();
    let given = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let build_args = BuildArgs::new(given);
    let done = dispatch_all(&store, &plan, text, &build_args, &empty_context).unwrap();
    done[&(plan.stages.len() - 1)].clone()
}

/// 20,000 instructions plan in well under a second in a release build
/// and a few seconds in a debug one; before, every step copied the
/// config with its whole history, and every ENV rewrote and every word
/// copied the whole environment (minutes, gigabytes). No clock here:
/// what is checked is the sharing that keeps it linear.
#[test]
fn twenty_thousand_instructions_share_the_config() {
    let mut text = String::from("FROM scratch\nENV V0=base\n");
    for i in 0..10_000 {
        text.push_str(&format!("RUN true {i}\n"));
    }
    for i in 1..10_000 {
        text.push_str(&format!("ENV V{i}=${{V0}}-{i}\n"));
    }
    text.push_str("RUN env\n");
    let p = last_stage(&text, &[]);
    assert_eq!(p.steps.len(), 10_001);
    let first = &p.steps[0].config_before;
    // No config change between the RUNs: one shared copy, no history in it.
    assert!(p.steps[..10_000]
        .iter()
        .all(|s| Arc::ptr_eq(&s.config_before, first)));
    assert_eq!(first.history_len(), 0);
    assert_eq!(p.steps[9_999].history_index, 10_000);
    let last = &p.steps[10_000];
    assert!(!Arc::ptr_eq(&last.config_before, first));
    assert_eq!(last.history_index, 20_000);
    assert_eq!(p.config.history_len(), 20_001);
    let env = p.config.env();
    assert_eq!(env.len(), 10_001);
    assert_eq!(env[10_000], ("V9999".to_string(), "base-9999".to_string()));
    let Op::Run(run) = &last.op else {
        panic!("not a RUN: {:?}", last.op)
    };
    assert_eq!(run.env.len(), 10_001);
    assert_eq!(last.config_before.env(), env);
}

#[test]
fn keys_are_stable_and_follow_what_a_step_sees() {
    let base = "FROM scratch\nARG V=1\nENV E=1\nRUN a\nLABEL l=1\nRUN b\n";
    let k = keys(base, &[]);
    assert_eq!(k, keys(base, &[]));
    // A label is config only: no step key changes.
    assert_eq!(k, keys(&base.replace("l=1", "l=2"), &[]));
    // ENV and ARG values reach RUN: both keys change.
    let env = keys(&base.replace("E=1", "E=2"), &[]);
    assert!(env[0] != k[0] && env[1] != k[1]);
    let arg = keys(base, &[("V", "2")]);
    assert!(arg[0] != k[0] && arg[1] != k[1]);
    // Editing the second RUN leaves the first one's key alone.
    let edit = keys(&base.replace("RUN b", "RUN c"), &[]);
    assert!(edit[0] == k[0] && edit[1] != k[1]);
}

#[test]
fn copy_from_stage_follows_that_stage() {
    let text = "FROM scratch AS a\nRUN x\nFROM scratch\nCOPY --from=a /f /f\n";
    let k = keys(text, &[]);
    assert_ne!(k, keys(&text.replace("RUN x", "RUN y"), &[]));
}
