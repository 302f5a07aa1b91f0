//! A build record's step graph as Graphviz DOT: a cluster per stage, an
//! edge from each step to the steps that read it, cached steps dashed,
//! the critical path in red.

use std::collections::HashSet;
use std::fmt::Write;

use kiln_solver::record::dag::critical_path;
use kiln_solver::record::BuildRecord;

pub fn dot(record: &BuildRecord) -> String {
    let path = critical_path(&record.steps);
    let critical: HashSet<usize> = path.iter().copied().collect();
    let on_path: HashSet<(usize, usize)> = path.windows(2).map(|w| (w[0], w[1])).collect();
    let mut out = String::from(
        "digraph build {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let mut stages: Vec<&str> = Vec::new();
    for s in &record.steps {
        if let Some(st) = s.stage.as_deref() {
            if !stages.contains(&st) {
                stages.push(st);
            }
        }
    }
    for (i, stage) in stages.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{i} {{\n    label={};",
            quote(stage)
        );
        for s in record
            .steps
            .iter()
            .filter(|s| s.stage.as_deref() == Some(stage))
        {
            node(
                &mut out,
                s.vertex,
                s.text(),
                s.cached,
                critical.contains(&s.vertex),
                "    ",
            );
        }
        out.push_str("  }\n");
    }
    for s in record.steps.iter().filter(|s| s.stage.is_none()) {
        node(
            &mut out,
            s.vertex,
            &s.name,
            s.cached,
            critical.contains(&s.vertex),
            "  ",
        );
    }
    for s in &record.steps {
        for d in &s.depends {
            let style = if on_path.contains(&(*d, s.vertex)) {
                " [color=red, penwidth=2]"
            } else {
                ""
            };
            let _ = writeln!(out, "  v{d} -> v{}{style};", s.vertex);
        }
    }
    out.push_str("}\n");
    out
}

fn node(out: &mut String, vertex: usize, text: &str, cached: bool, critical: bool, indent: &str) {
    let mut attrs = vec![format!("label={}", quote(&format!("#{vertex} {text}")))];
    if cached {
        attrs.push("style=dashed".into());
    }
    if critical {
        attrs.push("color=red, penwidth=2".into());
    }
    let _ = writeln!(out, "{indent}v{vertex} [{}];", attrs.join(", "));
}

/// A DOT string: quotes and backslashes escaped, line breaks as `\n`.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_solver::record::{Outcome, RecordOptions, StepRecord};

    #[test]
    fn stages_are_clusters_and_the_critical_path_is_red() {
        let step = |vertex, name: &str, end, depends: Vec<usize>| StepRecord {
            vertex,
            name: name.into(),
            stage: name
                .strip_prefix('[')
                .and_then(|n| n.split(' ').next())
                .map(str::to_string),
            line: None,
            start: 0,
            end,
            cached: vertex == 1,
            error: None,
            miss: vec![],
            depends,
        };
        let record = BuildRecord {
            id: "x".into(),
            started: 0,
            finished: 10,
            file: "Dockerfile".into(),
            dockerfile_digest: None,
            options: RecordOptions {
                context: ".".into(),
                jobs: 1,
                ..Default::default()
            },
            steps: vec![
                step(1, "[a 1/2] FROM busybox", 0, vec![]),
                step(2, "[a 2/2] RUN echo \"hi\"", 5, vec![1]),
                step(3, "[b 2/2] RUN b", 1, vec![]),
            ],
            io: None,
            outcome: Outcome {
                image: None,
                error: None,
            },
        };
        let dot = dot(&record);
        assert!(dot.starts_with("digraph build {"), "{dot}");
        assert!(
            dot.contains("subgraph cluster_0 {\n    label=\"a\";"),
            "{dot}"
        );
        assert!(
            dot.contains("v2 [label=\"#2 RUN echo \\\"hi\\\"\", color=red, penwidth=2];"),
            "{dot}"
        );
        assert!(
            dot.contains("v1 [label=\"#1 FROM busybox\", style=dashed, color=red"),
            "{dot}"
        );
        assert!(dot.contains("v1 -> v2 [color=red, penwidth=2];"), "{dot}");
        assert!(dot.contains("v3 [label=\"#3 RUN b\"];"), "{dot}");
    }
}
