//! COPY and ADD as dispatch reads them: heredoc sources, destinations,
//! the rules checked before anything runs, and the step and key made.

use super::walk_tests::dispatch_all;
use super::*;
use crate::context::select::SelectError;
use crate::plan::Plan;

/// The steps of the last stage of `text` (FROM scratch), or the first
/// error; the context selects nothing and `failing` makes it fail.
fn dispatch_last(text: &str, failing: bool) -> Result<Vec<Step>, BuildError> {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let df = kiln_parser::parse(text.as_bytes()).unwrap();
    let plan = Plan::new(&df).unwrap();
    let build_args = BuildArgs::new(Default::default());
    let select = |s: &str| -> Result<(Vec<Selected>, Vec<String>), BuildError> {
        match failing {
            true => Err(SelectError::NotFound(s.to_string()).into()),
            false => Ok((Vec::new(), Vec::new())),
        }
    };
    let done = dispatch_all(&store, &plan, text, &build_args, &select)?;
    let last = &done[&(plan.stages.len() - 1)];
    Ok(last.steps.clone())
}

fn copy_op(step: &Step) -> &CopyOp {
    match &step.op {
        Op::Copy(c) => c,
        other => panic!("not a copy: {other:?}"),
    }
}

fn message(text: &str) -> String {
    match dispatch_last(text, false) {
        Err(BuildError::Instruction { line, message }) => format!("{line}: {message}"),
        other => panic!("{text:?} dispatched: {other:?}"),
    }
}

fn heredoc(name: &str) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: String::new(),
        expand: true,
        chomp: false,
        fd: 0,
    }
}

#[test]
fn heredoc_sources_are_told_from_files_by_their_delimiter() {
    let docs = [heredoc("EOF")];
    for s in ["<<EOF", "<<-EOF", "<<\"EOF\"", "<<'EOF'"] {
        assert!(is_heredoc(s, &docs), "{s}");
    }
    for s in ["EOF", "<EOF", "<<OTHER", "<<", ""] {
        assert!(!is_heredoc(s, &docs), "{s}");
    }
}

#[test]
fn destinations_are_absolute_under_workdir_and_keep_their_slash() {
    assert_eq!(destination("", "app"), "/app");
    assert_eq!(destination("/src", "out/"), "/src/out/");
    assert_eq!(destination("/src", "."), "/src/");
    assert_eq!(destination("/src", "a/."), "/src/a/");
    assert_eq!(destination("/src", "/abs"), "/abs");
    assert_eq!(destination("/", "./"), "/");
}

#[test]
fn the_rules_are_checked_before_anything_runs() {
    assert_eq!(
        message("FROM scratch\nCOPY a b /dst\n"),
        "2: When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    assert_eq!(
        message("FROM scratch\nADD --checksum=sha256:00 a /dst\n"),
        "2: ADD --checksum needs an http(s) source"
    );
    let chmod = message("FROM scratch\nARG M=9z\nCOPY --chmod=$M a /dst\n");
    assert!(chmod.starts_with("3: ") && chmod.contains("9z"), "{chmod}");
    assert_eq!(
        message("FROM scratch\nADD https://example.com/a local /dst/\n"),
        "2: ADD of a URL or git source cannot mix with local or --from sources"
    );
    assert!(message("FROM scratch\nCOPY --exclude=[ a /dst\n").starts_with("2: --exclude"));
}

#[test]
fn a_context_that_cannot_select_fails_on_the_copy_line() {
    let Err(BuildError::Instruction { line, message }) =
        dispatch_last("FROM scratch\n\nCOPY missing /dst\n", true)
    else {
        panic!("a failing selection dispatched");
    };
    assert_eq!((line, message.as_str()), (3, "\"/missing\": not found"));
}

#[test]
fn the_step_shows_its_flags_and_carries_the_expanded_words() {
    let text = "FROM scratch\nARG U=1:2\nWORKDIR /w\n\
        COPY --chown=$U --chmod=644 --link --exclude=*.md a b dir/\n";
    let steps = dispatch_last(text, false).unwrap();
    let copy = steps.last().unwrap();
    assert!(
        copy.name
            .ends_with("COPY --chown=1:2 --chmod=644 --link --exclude=*.md a b dir/"),
        "{}",
        copy.name
    );
    let op = copy_op(copy);
    assert_eq!(op.dest, "/w/dir/");
    assert!(op.multi && op.link && !op.add);
    assert_eq!(
        (op.chown.as_deref(), op.chmod.as_deref()),
        (Some("1:2"), Some("644"))
    );
    assert!(
        op.exclude.is_none(),
        "context sources are filtered when selected"
    );
    assert!(matches!(op.from, CopyFrom::Context(_)));
}

#[test]
fn heredoc_bodies_expand_unless_quoted() {
    let text = "FROM scratch\nENV X=1\nCOPY <<A <<\"B\" /dst/\nvalue $X\nA\nvalue $X\nB\n";
    let steps = dispatch_last(text, false).unwrap();
    let op = copy_op(steps.last().unwrap());
    assert!(op.paths.is_empty());
    assert_eq!(
        op.heredocs,
        [
            ("A".to_string(), "value 1\n".to_string()),
            ("B".to_string(), "value $X\n".to_string())
        ]
    );
}

#[test]
fn a_linked_copy_keeps_its_key_when_what_is_below_changes() {
    let below = |run: &str| format!("FROM scratch\nRUN {run}\nCOPY --link a /a\nRUN after\n");
    let keys = |text: String| -> Vec<String> {
        let steps = dispatch_last(&text, false).unwrap();
        steps.iter().map(|s| s.key.clone()).collect()
    };
    let (one, two) = (keys(below("one")), keys(below("two")));
    assert_eq!(one[1], two[1], "the --link layer's own key");
    assert_ne!(one[2], two[2], "later steps still follow the whole chain");
    let plain = |run: &str| format!("FROM scratch\nRUN {run}\nCOPY a /a\n");
    assert_ne!(keys(plain("one"))[1], keys(plain("two"))[1]);
}

#[test]
fn copy_from_an_earlier_stage_reads_that_stage() {
    let text = "FROM scratch AS a\nFROM scratch\nCOPY --from=a /f /f\n";
    let steps = dispatch_last(text, false).unwrap();
    let op = copy_op(&steps[0]);
    assert!(matches!(op.from, CopyFrom::Stage(0)));
    assert!(
        steps[0].name.ends_with("COPY --from=a /f /f"),
        "{}",
        steps[0].name
    );
}
