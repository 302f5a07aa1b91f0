//! kiln's build solver: plan a Dockerfile into a DAG of stages and steps,
//! compute cache keys, schedule and execute them, and produce outputs. Also
//! owns the build context (walking, ignore filtering, hashing, the stat
//! cache).
//!
//! Data flows one way: Dockerfile → [`plan`] (stages, graph, target) →
//! [`dispatch`] (steps and their keys, before anything runs) →
//! [`scheduler`] (cache hits or [`ops`]) → [`exporter`] (image, archives).

pub mod cachekey;
pub mod cancel;
pub mod context;
mod created;
pub mod dispatch;
pub mod exporter;
pub mod lint;
pub mod ops;
pub mod plan;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod record;
pub mod remotecache;
pub mod scheduler;
pub mod session;
pub mod source;
pub mod stage_layer;
pub mod variables;
pub mod why;

mod build;

pub use build::{build, default_jobs, BuildOptions, BuildResult, Output};
pub use cancel::Cancel;
pub use ops::mounts::SecretSource;
pub use progress::{Event, Progress};
pub use session::BuildSession;

/// Everything a build can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {source}")]
    Plan {
        file: String,
        #[source]
        source: plan::PlanError,
    },
    /// Found while dispatching; `build` adds the file name.
    #[error("line {line}: {message}")]
    Instruction { line: usize, message: String },
    #[error("{file}:{line}: {message}")]
    Dockerfile {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: {step}: process did not complete successfully: exit code: {code}")]
    StepFailed {
        file: String,
        line: usize,
        step: String,
        code: u8,
        /// The image of the state before the failing step, when it could be made.
        last_good: Option<String>,
    },
    /// The cause is in the text, as the step's progress line shows it.
    #[error("{file}:{line}: {step}: {cause}")]
    Step {
        file: String,
        line: usize,
        step: String,
        cause: Box<scheduler::StepError>,
    },
    #[error("reading the build context: {0}")]
    Context(#[from] context::ContextError),
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] kiln_cache::StoreError),
    #[error(transparent)]
    Export(Box<exporter::error::ExportError>),
    /// A COPY/ADD source that cannot be used (missing, outside the context).
    #[error(transparent)]
    Source(#[from] context::select::SelectError),
    /// A `--build-context` that could not be loaded.
    #[error(transparent)]
    NamedContext(#[from] context::named::NamedError),
    /// A `--cache-from` or `--cache-to` that could not be read or written.
    #[error("output")]
    RemoteCache(#[source] Box<remotecache::CacheError>),
    #[error("invalid tag {tag:?}")]
    Tag {
        tag: String,
        #[source]
        source: kiln_cache::ReferenceError,
    },
    #[error("build cancelled")]
    Cancelled,
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A base image to pull whose name is no reference.
    #[error("base image {name:?}")]
    BaseReference {
        name: String,
        #[source]
        source: kiln_cache::ReferenceError,
    },
    /// A base image could not be pulled (FROM auto-pull, `--pull`). The
    /// registry's error is in the text with all its causes (DNS, TLS, an
    /// HTTP status), as the progress shows it.
    #[error("pulling {reference}: {}", error_chain(cause.as_ref()))]
    Pull {
        reference: String,
        cause: Box<kiln_cache::registry::RegistryError>,
    },
}

/// `err` and each of its sources, joined by ": ", a source repeating
/// what the text already ends with left out.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}
