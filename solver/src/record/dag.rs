//! The step graph of a record: which steps each step reads (the step
//! before it in its stage, the stage it is built FROM, the stages it
//! copies or mounts from) and the critical path, the chain of steps whose
//! durations add up to the longest: the build cannot finish sooner
//! without one of them getting faster.

use std::collections::HashMap;

use kiln_parser::ast::{Dockerfile, InstructionKind, Mount};

use super::StepRecord;
use crate::plan::{stage_ref, Plan, Stage};
use crate::why::history::split_name;

/// Fills in each step's Dockerfile line and dependencies. A Dockerfile
/// that no longer plans (it failed the build) leaves the steps unlinked.
pub fn link(df: &Dockerfile, steps: &mut [StepRecord]) {
    let Ok(plan) = Plan::new(df) else {
        return;
    };
    let labels: HashMap<String, &Stage> = plan.stages.iter().map(|s| (s.label(), s)).collect();
    // (stage label, position) → vertex, for the steps progress showed.
    let mut at: HashMap<(String, usize), usize> = HashMap::new();
    for s in steps.iter() {
        if let Some((stage, pos, _)) = split_name(&s.name) {
            at.insert((stage, pos), s.vertex);
        }
    }
    let last_of = |index: usize| -> Option<usize> {
        let label = plan.stages.get(index)?.label();
        at.iter()
            .filter(|((l, _), _)| *l == label)
            .max_by_key(|((_, pos), _)| *pos)
            .map(|(_, v)| *v)
    };
    for s in steps.iter_mut() {
        let Some((label, pos, _)) = split_name(&s.name) else {
            continue;
        };
        let Some(stage) = labels.get(&label) else {
            continue;
        };
        s.line = line(stage, pos);
        let before = (1..pos)
            .rev()
            .find_map(|p| at.get(&(label.clone(), p)).copied());
        let mut depends: Vec<usize> = before.into_iter().collect();
        if before.is_none() {
            depends
                .extend(stage_ref(&plan.stages, stage.index, &stage.from.image).and_then(last_of));
        }
        if let Some(ins) = pos.checked_sub(2).and_then(|i| stage.instructions.get(i)) {
            for from in sources(&ins.kind) {
                depends.extend(stage_ref(&plan.stages, stage.index, from).and_then(last_of));
            }
        }
        depends.sort_unstable();
        depends.dedup();
        depends.retain(|d| *d != s.vertex);
        s.depends = depends;
    }
}

/// FROM is position 1; the instructions after it follow.
fn line(stage: &Stage, position: usize) -> Option<usize> {
    match position {
        0 => None,
        1 => Some(stage.line),
        p => stage.instructions.get(p - 2).map(|i| i.span.start_line),
    }
}

/// The stages (or images) an instruction reads besides its own stage.
fn sources(kind: &InstructionKind) -> Vec<&str> {
    match kind {
        InstructionKind::Copy(c) | InstructionKind::Add(c) => {
            c.from.iter().map(String::as_str).collect()
        }
        InstructionKind::Run(r) => r
            .mounts
            .iter()
            .filter_map(|m| match m {
                Mount::Bind(b) => b.from.as_deref(),
                Mount::Cache(c) => c.from.as_deref(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The vertices of the critical path, first to last: the chain through
/// `depends` with the largest total duration (ties: the most steps, so a
/// fully cached build still shows its longest chain).
pub fn critical_path(steps: &[StepRecord]) -> Vec<usize> {
    let index: HashMap<usize, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.vertex, i))
        .collect();
    let order = topological(steps, &index);
    // For each step: (duration of the longest chain ending in it, its
    // length, the step before it on that chain).
    let mut best: Vec<((u64, usize), Option<usize>)> = vec![((0, 0), None); steps.len()];
    for &i in &order {
        let s = &steps[i];
        let prev = s
            .depends
            .iter()
            .filter_map(|d| index.get(d).copied())
            .max_by_key(|&d| best[d].0);
        let (ns, n) = prev.map_or((0, 0), |d| best[d].0);
        best[i] = ((ns.saturating_add(s.duration_ns()), n + 1), prev);
    }
    let Some(mut at) = (0..steps.len()).max_by_key(|&i| best[i].0) else {
        return Vec::new();
    };
    let mut path = vec![steps[at].vertex];
    while let Some(p) = best[at].1 {
        path.push(steps[p].vertex);
        at = p;
    }
    path.reverse();
    path
}

/// Kahn's order over the dependency edges (events may arrive with a step
/// before one it reads: a cache hit is announced before its inputs wait).
fn topological(steps: &[StepRecord], index: &HashMap<usize, usize>) -> Vec<usize> {
    let mut waiting: Vec<usize> = vec![0; steps.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, s) in steps.iter().enumerate() {
        for d in s.depends.iter().filter_map(|d| index.get(d)) {
            waiting[i] += 1;
            readers[*d].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..steps.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &r in &readers[i] {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                ready.push(r);
            }
        }
    }
    order
}

#[cfg(test)]
#[path = "dag_tests.rs"]
mod tests;
