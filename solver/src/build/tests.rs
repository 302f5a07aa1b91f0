//! The build's planning steps, without a store or root: the target and
//! the stages it needs, global ARGs, tags, `created`, `--no-cache-filter`.

use std::path::Path;

use super::*;
use crate::plan::PlanError;

fn session(dir: &Path, dockerfile: &str, edit: impl FnOnce(&mut BuildOptions)) -> BuildSession {
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let mut opts = BuildOptions::in_context(dir);
    edit(&mut opts);
    BuildSession::open(opts).unwrap()
}

const THREE_STAGES: &str = "FROM scratch AS base\n\
    FROM scratch AS unrelated\n\
    FROM base AS app\n\
    COPY --from=unrelated / /\n\
    FROM scratch AS last\n";

#[test]
fn plan_takes_the_target_and_only_the_stages_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path(), THREE_STAGES, |o| o.target = Some("app".into()));
    let planned = plan(&s).unwrap();
    assert_eq!(planned.target, 2);
    let mut needed = planned.needed.clone();
    needed.sort();
    assert_eq!(needed, [0, 1, 2]);

    let s = session(dir.path(), THREE_STAGES, |_| {});
    let planned = plan(&s).unwrap();
    assert_eq!((planned.target, planned.needed), (3, vec![3]));
}

#[test]
fn an_unknown_target_is_a_plan_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path(), THREE_STAGES, |o| o.target = Some("nope".into()));
    let Err(e) = plan(&s) else {
        panic!("an unknown target planned");
    };
    assert!(
        matches!(&e, BuildError::Plan { file, source: PlanError::NoTarget(t) } if file == "Dockerfile" && t == "nope"),
        "{e:?}"
    );
}

#[test]
fn global_args_take_build_args_first_then_expanded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let df = "ARG A=1\nARG B=${A}2\nARG C\nARG D=${C}-d\nFROM scratch\n";
    let s = session(dir.path(), df, |o| {
        for (k, v) in [("C", "x"), ("UNDECLARED", "u"), ("SOURCE_DATE_EPOCH", "0")] {
            o.build_args.insert(k.into(), v.into());
        }
    });
    let planned = plan(&s).unwrap();
    let g = &planned.globals;
    assert_eq!(
        [g.get("A"), g.get("B"), g.get("C"), g.get("D")],
        [Some("1"), Some("12"), Some("x"), Some("x-d")]
    );
    assert!(g.get("TARGETARCH").is_some(), "platform args come first");
    // SOURCE_DATE_EPOCH is the build's own: never "not consumed".
    assert_eq!(planned.build_args.unused(), ["UNDECLARED"]);
}

#[test]
fn a_global_default_that_cannot_expand_is_located_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(
        dir.path(),
        "ARG A\nARG B=${A:?A is required}\nFROM scratch\n",
        |_| {},
    );
    let Err(e) = plan(&s) else {
        panic!("an unset required variable expanded");
    };
    assert!(
        matches!(&e, BuildError::Dockerfile { file, line: 2, .. } if file == "Dockerfile"),
        "{e:?}"
    );
}

#[test]
fn locate_names_the_file_of_instruction_errors_only() {
    let e = locate(
        "app.Dockerfile",
        BuildError::Instruction {
            line: 3,
            message: "bad".into(),
        },
    );
    assert_eq!(e.to_string(), "app.Dockerfile:3: bad");
    let other = locate("app.Dockerfile", BuildError::Cancelled);
    assert!(matches!(other, BuildError::Cancelled));
}

#[test]
fn tags_are_normalised_and_bad_ones_refused_by_name() {
    let tags = parse_tags(&["app".into(), "ghcr.io/o/app:1".into()]).unwrap();
    let names: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    assert_eq!(names, ["docker.io/library/app:latest", "ghcr.io/o/app:1"]);
    let Err(e) = parse_tags(&["Upper:1".into()]) else {
        panic!("an upper-case repository name was taken");
    };
    assert!(
        matches!(&e, BuildError::Tag { tag, .. } if tag == "Upper:1"),
        "{e:?}"
    );
}

#[test]
fn created_is_source_date_epoch_clamped_at_zero() {
    assert_eq!(created_time(Some(86_400)), "1970-01-02T00:00:00Z");
    assert_eq!(created_time(Some(-5)), "1970-01-01T00:00:00Z");
    let now = created_time(None);
    assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
}

#[test]
fn no_cache_filter_matches_stage_labels_ignoring_case() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = BuildOptions::in_context(dir.path());
    opts.no_cache_filter = vec!["Build".into()];
    assert!(no_cache(&opts)("build"));
    assert!(!no_cache(&opts)("test"));
    opts.no_cache = true;
    assert!(no_cache(&opts)("test"), "--no-cache covers every stage");
}

#[test]
fn a_target_that_was_not_dispatched_is_not_scheduled() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path(), THREE_STAGES, |_| {});
    let planned = plan(&s).unwrap();
    let Err(e) = stages_to_run(&planned, &Dispatched::new()) else {
        panic!("scheduled without its target");
    };
    assert!(matches!(e, BuildError::Internal(_)));
}
