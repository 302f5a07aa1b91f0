//! The build plan: a Dockerfile cut into stages, and the graph of stages a
//! target needs (petgraph). An edge A → B means B reads A's result: `FROM
//! A`, `COPY --from=A`. Only the stages reachable from the target are ever
//! dispatched or run (BuildKit semantics: an unused stage costs nothing).

use std::collections::{BTreeSet, HashMap, HashSet};

use kiln_parser::ast::{Dockerfile, From, Instruction, InstructionKind};
use kiln_parser::expand::{ExpandError, Lexer};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;

use crate::variables::Scope;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{line}: no FROM before {keyword} (only ARG may come first)")]
    NoFrom { line: usize, keyword: String },
    #[error("target stage {0:?} could not be found")]
    NoTarget(String),
    #[error("{line}: duplicate stage name {name:?}")]
    DuplicateName { line: usize, name: String },
    #[error("{line}: {cause}")]
    Expand { line: usize, cause: ExpandError },
    #[error("{line}: {what} refers to stage {name:?}, which is not an earlier stage")]
    ForwardReference {
        line: usize,
        what: &'static str,
        name: String,
    },
}

/// One `FROM` and the instructions after it.
#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    /// The `AS` name, lower-cased (BuildKit matches names case-insensitively).
    pub name: Option<String>,
    pub from: From,
    /// The FROM line's span start.
    pub line: usize,
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// How progress names the stage: its name, or `stage-N`.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// The stages, the global ARGs before the first FROM, and the stage graph.
#[derive(Debug)]
pub struct Plan {
    pub globals: Vec<Instruction>,
    pub stages: Vec<Stage>,
    pub graph: DiGraph<usize, ()>,
}

/// Which stage `reference` names among stages before `before` (a name or
/// an index), or `None` for an image reference.
pub fn stage_ref(stages: &[Stage], before: usize, reference: &str) -> Option<usize> {
    let lower = reference.to_ascii_lowercase();
    if let Some(s) = stages[..before.min(stages.len())]
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(s.index);
    }
    reference.parse::<usize>().ok().filter(|i| *i < before)
}

impl Plan {
    pub fn new(df: &Dockerfile) -> Result<Plan, PlanError> {
        let mut globals = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        // Names seen so far: a scan of the earlier stages per FROM was
        // quadratic in the number of stages.
        let mut names = HashSet::new();
        for ins in &df.instructions {
            match (&ins.kind, stages.last_mut()) {
                (InstructionKind::From(from), _) => {
                    let name = from.name.as_ref().map(|n| n.to_ascii_lowercase());
                    if let Some(n) = &name {
                        if !names.insert(n.clone()) {
                            return Err(PlanError::DuplicateName {
                                line: ins.span.start_line,
                                name: n.clone(),
                            });
                        }
                    }
                    stages.push(Stage {
                        index: stages.len(),
                        name,
                        from: from.clone(),
                        line: ins.span.start_line,
                        instructions: Vec::new(),
                    });
                }
                (_, Some(stage)) => stage.instructions.push(ins.clone()),
                (InstructionKind::Arg(_), None) => globals.push(ins.clone()),
                (_, None) => {
                    return Err(PlanError::NoFrom {
                        line: ins.span.start_line,
                        keyword: ins.keyword.to_ascii_uppercase(),
                    })
                }
            }
        }
        let graph = DiGraph::new();
        Ok(Plan {
            globals,
            stages,
            graph,
        })
    }

    /// The index of the stage `--target` names (default: the last).
    pub fn target(&self, target: Option<&str>) -> Result<usize, PlanError> {
        match target {
            None => self
                .stages
                .len()
                .checked_sub(1)
                .ok_or_else(|| PlanError::NoTarget(String::new())),
            Some(t) => stage_ref(&self.stages, self.stages.len(), t)
                .ok_or_else(|| PlanError::NoTarget(t.to_string())),
        }
    }

    /// Builds the stage graph from `FROM` and `--from` references (their
    /// words expanded with the global args) and returns the stages the
    /// target needs, in index order.
    pub fn needed(&mut self, target: usize, globals: &Scope) -> Result<Vec<usize>, PlanError> {
        let lexer = Lexer::default();
        // The first stage of each name (names are unique, see `new`), so a
        // reference is found without scanning every stage.
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for s in &self.stages {
            if let Some(n) = &s.name {
                by_name.entry(n.as_str()).or_insert(s.index);
            }
        }
        // `stage_ref` with the index: a name, else a number, before `before`.
        let find = |before: usize, reference: &str| {
            let lower = reference.to_ascii_lowercase();
            match by_name.get(lower.as_str()) {
                Some(&i) if i < before => Some(i),
                _ => reference.parse::<usize>().ok().filter(|i| *i < before),
            }
        };
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = self
            .stages
            .iter()
            .map(|s| graph.add_node(s.index))
            .collect();
        for stage in &self.stages {
            for (line, what, word) in references(stage) {
                let name = lexer
                    .process_word(&word, globals)
                    .map_err(|cause| PlanError::Expand { line, cause })?;
                if let Some(dep) = find(stage.index, &name) {
                    graph.update_edge(nodes[dep], nodes[stage.index], ());
                } else if find(self.stages.len(), &name)
                    .is_some_and(|i| i >= stage.index && name.parse::<usize>().is_err())
                {
                    return Err(PlanError::ForwardReference { line, what, name });
                }
            }
        }
        let mut needed = BTreeSet::new();
        let rev = petgraph::visit::Reversed(&graph);
        let mut dfs = Dfs::new(&rev, nodes[target]);
        while let Some(n) = dfs.next(rev) {
            needed.insert(graph[n]);
        }
        self.graph = graph;
        Ok(needed.into_iter().collect())
    }

    /// The stages `index` reads directly.
    /// Frees the stages' instructions once dispatch has read them all:
    /// they are the plan's bulk (tens of MB at 100,000 lines) and nothing
    /// after dispatch reads them; names, bases and the graph stay.
    pub fn release_instructions(&mut self) {
        for stage in &mut self.stages {
            stage.instructions = Vec::new();
        }
    }

    pub fn deps(&self, index: usize) -> Vec<usize> {
        // `needed` adds stage i as node i: no search over the nodes (one
        // per stage, for every stage, was quadratic).
        let node = NodeIndex::new(index);
        if self.graph.node_weight(node) != Some(&index) {
            return Vec::new();
        }
        self.graph
            .neighbors_directed(node, petgraph::Direction::Incoming)
            .map(|n| self.graph[n])
            .collect()
    }
}

/// `(line, what, word)` for each reference a stage makes to another.
fn references(stage: &Stage) -> Vec<(usize, &'static str, String)> {
    let mut out = vec![(stage.line, "FROM", stage.from.image.clone())];
    for ins in &stage.instructions {
        if let InstructionKind::Copy(c) | InstructionKind::Add(c) = &ins.kind {
            if let Some(from) = &c.from {
                out.push((ins.span.start_line, "--from", from.clone()));
            }
        }
        // `RUN --mount=from=STAGE` reads that stage too.
        if let InstructionKind::Run(r) = &ins.kind {
            for m in &r.mounts {
                let from = match m {
                    kiln_parser::ast::Mount::Bind(b) => b.from.as_ref(),
                    kiln_parser::ast::Mount::Cache(c) => c.from.as_ref(),
                    _ => None,
                };
                if let Some(from) = from {
                    out.push((ins.span.start_line, "--mount from", from.clone()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Plan {
        Plan::new(&kiln_parser::parse(text.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn target_needs_only_what_it_reads() {
        let mut p = plan(
            "FROM scratch AS a\nFROM scratch AS unused\nFROM a AS b\nCOPY --from=0 / /\nFROM b\n",
        );
        let t = p.target(None).unwrap();
        assert_eq!(p.needed(t, &Scope::default()).unwrap(), vec![0, 2, 3]);
        let t = p.target(Some("UNUSED")).unwrap();
        assert_eq!(p.needed(t, &Scope::default()).unwrap(), vec![1]);
        assert!(matches!(
            p.target(Some("nope")),
            Err(PlanError::NoTarget(_))
        ));
    }

    #[test]
    fn image_names_are_not_stages() {
        let mut p = plan("FROM busybox AS a\nFROM alpine\nCOPY --from=busybox / /\n");
        assert_eq!(p.needed(1, &Scope::default()).unwrap(), vec![1]);
    }

    #[test]
    fn global_args_name_stages_in_from() {
        let mut p = plan("ARG SRC=a\nFROM scratch AS a\nFROM ${SRC}\n");
        let mut g = Scope::default();
        g.set("SRC", "a".into());
        assert_eq!(p.needed(1, &g).unwrap(), vec![0, 1]);
        assert_eq!(p.globals.len(), 1);
    }
}
