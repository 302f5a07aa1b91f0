use super::*;
use kiln_solver::record::{Outcome, RecordOptions};

fn step(vertex: usize, name: &str, start: u64, end: u64, depends: &[usize]) -> StepRecord {
    StepRecord {
        vertex,
        name: name.into(),
        stage: name
            .strip_prefix('[')
            .and_then(|n| n.split(' ').next())
            .map(str::to_string),
        line: Some(vertex),
        start,
        end,
        cached: start == end,
        error: None,
        miss: vec!["the command changed: <b>&\"x\"".into()],
        depends: depends.to_vec(),
    }
}

fn record() -> BuildRecord {
    const S: u64 = 1_000_000_000;
    BuildRecord {
        id: "abc".into(),
        started: 0,
        finished: 4 * S,
        file: "Dockerfile".into(),
        dockerfile_digest: None,
        options: RecordOptions {
            context: ".".into(),
            jobs: 2,
            ..Default::default()
        },
        steps: vec![
            step(1, "[a 1/2] FROM busybox", 0, 0, &[]),
            step(2, "[a 2/2] RUN sleep 3", 0, 3 * S, &[1]),
            step(3, "[b 2/2] RUN sleep 1", 0, S, &[]),
            step(4, "[c 2/2] COPY --from=a /x /x", 3 * S, 4 * S, &[2]),
            step(5, "exporting to image", 4 * S, 4 * S, &[]),
        ],
        io: None,
        outcome: Outcome {
            image: Some("sha256:1".into()),
            error: None,
        },
    }
}

fn bars(svg: &str) -> Vec<&str> {
    svg.split("<rect class=\"bar").skip(1).collect()
}

#[test]
fn one_bar_per_step_in_lanes_with_the_critical_path_marked() {
    let svg = svg(&record());
    let bars = bars(&svg);
    assert_eq!(bars.len(), 5);
    let critical: Vec<bool> = bars
        .iter()
        .map(|b| b.contains("data-critical=\"true\""))
        .collect();
    assert_eq!(critical, [true, true, false, true, false]);
    assert!(bars[0].starts_with(" cached critical\""), "{}", bars[0]);
    for lane in ["a", "b", "c", "build"] {
        assert!(svg.contains(&format!("data-lane=\"{lane}\"")), "{lane}");
    }
    // A bar's tooltip: the instruction, FILE:LINE, duration, the miss.
    assert!(
        bars[1].contains("<title>RUN sleep 3\nDockerfile:2\n3.00s (ran)\ncache miss: the command changed: &lt;b&gt;&amp;&quot;x&quot;</title>"),
        "{}",
        bars[1]
    );
}

#[test]
fn the_page_is_self_contained() {
    let page = html(&record());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    for remote in ["http://", "https://", "src="] {
        let outside_svg_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!outside_svg_ns.contains(remote), "{remote}");
    }
}

#[test]
fn hostile_text_is_escaped() {
    assert_eq!(
        escape("<a href='x'>\u{1b}[31m"),
        "&lt;a href=&#39;x&#39;&gt;\u{FFFD}[31m"
    );
}
