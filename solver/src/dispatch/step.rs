//! What dispatch produces: a stage's plan and its steps (RUN, COPY/ADD,
//! WORKDIR), each with its cache key and the config it starts from.

use std::sync::Arc;

use kiln_cache::image::ImageConfig;
use kiln_cache::{ImageEntry, Ingredient};
use kiln_parser::ast::Network;

use super::{Remote, RunMount};
use crate::context::select::Selected;

/// Where a stage starts.
#[derive(Debug, Clone)]
pub enum Base {
    Scratch,
    Image(Box<ImageEntry>),
    Stage(usize),
}

/// Where COPY reads from.
#[derive(Debug, Clone)]
pub enum CopyFrom {
    /// Selected context entries (heredoc sources are kept apart).
    Context(Vec<Selected>),
    Stage(usize),
    Image(Box<ImageEntry>),
    /// ADD of URLs or a git repository.
    Remote(Vec<Remote>),
}

#[derive(Debug, Clone)]
pub struct CopyOp {
    pub from: CopyFrom,
    /// Source paths for stage and image sources (expanded).
    pub paths: Vec<String>,
    /// `(name, content)` of heredoc sources.
    pub heredocs: Vec<(String, String)>,
    /// Absolute destination, trailing `/` kept.
    pub dest: String,
    /// More than one source: the destination is a directory.
    pub multi: bool,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// ADD: local archives are extracted.
    pub add: bool,
    /// `--parents`: sources keep their path below the destination.
    pub parents: bool,
    /// `--link`: written as if onto an empty filesystem.
    pub link: bool,
    /// `--exclude` patterns for a stage or image source (context sources
    /// are filtered when they are selected).
    pub exclude: Option<kiln_parser::ignore::Matcher>,
}

#[derive(Debug, Clone)]
pub struct RunOp {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub network: Network,
    /// A heredoc with a shebang, run as a script file: `(name, content)`.
    pub script: Option<(String, String)>,
    /// `--mount=…`, resolved.
    pub mounts: Vec<RunMount>,
}

#[derive(Debug, Clone)]
pub enum Op {
    Run(RunOp),
    Copy(CopyOp),
    /// WORKDIR: BuildKit creates the directory as its own step.
    Mkdir {
        path: String,
        user: String,
    },
}

/// One step that may make a layer.
#[derive(Debug, Clone)]
pub struct Step {
    /// `[build 2/4] RUN make`, as progress and records name it.
    pub name: String,
    pub line: usize,
    pub key: String,
    pub ingredients: Vec<Ingredient>,
    pub op: Op,
    /// The config as it stands when the step starts (for the image of the
    /// last good step when it fails), without its history: the scheduler
    /// takes that from the stage's run, which knows the `empty_layer`
    /// marks. Shared by the steps between two config changes; a copy per
    /// step, history included, made planning quadratic (100,000 RUN lines
    /// took 12 GB).
    pub config_before: Arc<ImageConfig>,
    /// Index of the step's history entry in the final config.
    pub history_index: usize,
    pub no_cache: bool,
}

/// A dispatched stage: its base, steps and final config.
#[derive(Debug, Clone)]
pub struct StagePlan {
    pub index: usize,
    pub label: String,
    pub base: Base,
    /// The key the first step chains from.
    pub base_key: String,
    /// The key a child stage or `COPY --from` chains from.
    pub final_key: String,
    pub steps: Vec<Step>,
    pub config: ImageConfig,
    pub from_name: String,
    /// Instructions in the stage, FROM included (the `/N` of step names).
    pub total: usize,
    /// The ARGs declared in the stage and the stages it is built FROM,
    /// first declaration first, with their values (`""` for none): a stage
    /// built FROM this one shows them in its RUN history as BuildKit does.
    pub declared_args: Vec<(String, String)>,
}
