//! The stages of a Dockerfile and which stages each one needs, to find
//! stages that no build of the target would run.

use regex::Regex;

use crate::ast::{Dockerfile, From, Instruction, InstructionKind, Mount};
use crate::expand::{Env, Lexer};

/// One `FROM` and the instructions after it, up to the next `FROM`.
pub(crate) struct Stage<'a> {
    pub from_instruction: &'a Instruction,
    pub from: &'a From,
    pub body: Vec<&'a Instruction>,
}

impl Stage<'_> {
    pub fn lower_name(&self) -> Option<String> {
        self.from.name.as_ref().map(|n| n.to_lowercase())
    }
}

/// The instructions before the first `FROM` (global `ARG`s) and the stages.
pub(crate) struct Stages<'a> {
    pub global: Vec<&'a Instruction>,
    pub stages: Vec<Stage<'a>>,
}

pub(crate) fn split(df: &Dockerfile) -> Stages<'_> {
    let mut out = Stages {
        global: Vec::new(),
        stages: Vec::new(),
    };
    for inst in &df.instructions {
        match (&inst.kind, out.stages.last_mut()) {
            (InstructionKind::From(from), _) => out.stages.push(Stage {
                from_instruction: inst,
                from,
                body: Vec::new(),
            }),
            (_, Some(stage)) => stage.body.push(inst),
            (_, None) => out.global.push(inst),
        }
    }
    out
}

impl Stages<'_> {
    /// The stage a reference names: a stage name (case-insensitive) or a
    /// stage index, among the stages `candidates` allows.
    fn resolve(&self, reference: &str, candidates: std::ops::Range<usize>) -> Vec<usize> {
        let lower = reference.to_lowercase();
        if let Ok(index) = lower.parse::<usize>() {
            return candidates.filter(|&i| i == index).collect();
        }
        let pattern = reference_pattern(&lower);
        candidates
            .filter(|&i| match (self.stages[i].lower_name(), &pattern) {
                (Some(name), Some(re)) => re.is_match(&name),
                (Some(name), None) => name == lower,
                (None, _) => false,
            })
            .collect()
    }

    /// Stages that stage `i` reads: its base (an earlier stage named in
    /// `FROM`), `COPY`/`ADD --from`, and `RUN --mount=…,from=`.
    fn needs(&self, i: usize) -> Vec<usize> {
        let stage = &self.stages[i];
        let mut refs: Vec<(&str, std::ops::Range<usize>)> = vec![(stage.from.image.as_str(), 0..i)];
        let all = 0..self.stages.len();
        for inst in &stage.body {
            match &inst.kind {
                InstructionKind::Copy(c) | InstructionKind::Add(c) => {
                    refs.extend(c.from.as_deref().map(|f| (f, all.clone())));
                }
                InstructionKind::Run(run) => {
                    for m in &run.mounts {
                        let from = match m {
                            Mount::Bind(b) => b.from.as_deref(),
                            Mount::Cache(c) => c.from.as_deref(),
                            _ => None,
                        };
                        refs.extend(from.map(|f| (f, all.clone())));
                    }
                }
                _ => {}
            }
        }
        refs.into_iter()
            .flat_map(|(r, range)| self.resolve(r, range))
            .filter(|&j| j != i)
            .collect()
    }

    /// The index of the target stage: the named one, or the last.
    pub fn target(&self, name: Option<&str>) -> Option<usize> {
        match name {
            Some(n) => self.resolve(n, 0..self.stages.len()).pop(),
            None => self.stages.len().checked_sub(1),
        }
    }

    /// Stages the target does not need, directly or through other stages.
    pub fn unreachable(&self, target: usize) -> Vec<usize> {
        let mut seen = vec![false; self.stages.len()];
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            todo.extend(self.needs(i));
        }
        (0..self.stages.len()).filter(|&i| !seen[i]).collect()
    }
}

/// Every variable stands for "anything" when matching a stage reference.
struct AnyValue;

const HOLE: &str = "\u{0}";

impl Env for AnyValue {
    fn lookup(&self, _name: &str) -> Option<&str> {
        Some(HOLE)
    }
}

/// A reference with variables (`FROM binaries-${TARGETOS}`) may name any
/// stage its variables could produce: build-time values are unknown to the
/// linter, so each variable matches any text. `None` for plain references.
fn reference_pattern(reference: &str) -> Option<Regex> {
    if !reference.contains('$') {
        return None;
    }
    let expanded = Lexer::default().process_word(reference, &AnyValue).ok()?;
    let parts: Vec<String> = expanded.split(HOLE).map(regex::escape).collect();
    Regex::new(&format!("^{}$", parts.join(".*"))).ok()
}
