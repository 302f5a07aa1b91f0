use super::*;
use crate::record::tests::step;

fn linked(dockerfile: &str, names: &[&str]) -> Vec<StepRecord> {
    let df = kiln_parser::parse(dockerfile.as_bytes()).unwrap();
    let mut steps: Vec<StepRecord> = names
        .iter()
        .enumerate()
        .map(|(i, n)| step(i + 1, n, 0, 0, &[]))
        .collect();
    link(&df, &mut steps);
    steps
}

#[test]
fn steps_read_the_step_before_their_base_stage_and_copy_sources() {
    let df = "FROM busybox AS a\nRUN a\n\nFROM a AS b\nRUN b\n\nFROM busybox\nENV X=1\nCOPY --from=a /x /x\nRUN --mount=from=b,target=/b c\n";
    let steps = linked(
        df,
        &[
            "[a 1/2] FROM busybox",
            "[a 2/2] RUN a",
            "[b 2/2] RUN b",
            "[stage-2 1/4] FROM busybox",
            "[stage-2 3/4] COPY --from=a /x /x",
            "[stage-2 4/4] RUN --mount=from=b,target=/b c",
            "exporting to image",
        ],
    );
    let deps: Vec<&[usize]> = steps.iter().map(|s| s.depends.as_slice()).collect();
    assert_eq!(deps, [&[][..], &[1], &[2], &[], &[2, 4], &[3, 5], &[]]);
    let lines: Vec<Option<usize>> = steps.iter().map(|s| s.line).collect();
    assert_eq!(
        lines,
        [Some(1), Some(2), Some(5), Some(7), Some(9), Some(10), None]
    );
}

#[test]
fn the_critical_path_is_the_longest_chain_by_duration() {
    // 1 → 2 → 4 takes 10 + 1 + 1; 1 → 3 → 4 takes 10 + 5 + 1.
    let steps = [
        step(1, "a", 0, 10, &[]),
        step(2, "b", 10, 11, &[1]),
        step(3, "c", 10, 15, &[1]),
        step(4, "d", 15, 16, &[2, 3]),
        step(5, "e", 0, 14, &[]),
    ];
    assert_eq!(critical_path(&steps), [1, 3, 4]);
}

#[test]
fn a_cached_build_still_has_its_longest_chain() {
    // Announced out of order: 3 reads 2, which came after it.
    let steps = [
        step(1, "a", 0, 0, &[]),
        step(3, "c", 0, 0, &[2]),
        step(2, "b", 0, 0, &[1]),
    ];
    assert_eq!(critical_path(&steps), [1, 2, 3]);
    assert!(critical_path(&[]).is_empty());
}
