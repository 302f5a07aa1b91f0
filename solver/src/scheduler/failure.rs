//! Why a step did not finish: its process's exit status, the build's
//! cancellation, or an error on the way there.

use kiln_runtime::process::user;

use crate::ops::exec::ExecError;
use crate::ops::fetch::FetchError;
use crate::ops::file::FileError;
use crate::ops::mounts::MountError;
use crate::BuildError;

#[derive(Debug)]
pub(super) enum StepFailure {
    Exit(u8),
    Cancelled,
    Other(StepError),
}

impl StepFailure {
    pub(super) fn other(e: impl Into<StepError>) -> StepFailure {
        StepFailure::Other(e.into())
    }
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepFailure::Exit(c) => {
                write!(f, "process did not complete successfully: exit code: {c}")
            }
            StepFailure::Cancelled => f.write_str("cancelled"),
            StepFailure::Other(e) => e.fmt(f),
        }
    }
}

/// An error that stopped a step before its process could finish (or
/// after, committing its layer). Shown as its cause's own text: the
/// build's error and the step's progress line say the same.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] kiln_cache::StoreError),
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    File(#[from] FileError),
    /// WORKDIR's owner: the stage's USER, not found in the image.
    #[error(transparent)]
    User(#[from] user::Error),
    /// Committing the step's layer.
    #[error(transparent)]
    Layer(Box<BuildError>),
    #[error("source stage did not run")]
    SourceStageMissing,
}

impl From<BuildError> for StepError {
    fn from(e: BuildError) -> StepError {
        StepError::Layer(Box::new(e))
    }
}
