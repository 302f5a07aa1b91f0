//! kiln as a whole, as typed operations: what a user asks of kiln
//! (containers from images, and the images themselves) takes typed options
//! and returns typed results or an [`Error`]. The CLI and the API server
//! both call this crate; it never prints and knows no command line.

pub mod container;
mod error;
pub mod events;
pub mod filter;
mod holds;
pub mod image;
pub mod images;
pub mod info;
mod network;
pub mod output_file;
pub mod prune;
pub mod search;
mod usage;
mod volume;

use std::path::{Path, PathBuf};

use kiln_runtime::container::state::Containers;

pub use error::Error;
pub use holds::ContainerHolds;
pub use network::{ConnectError, ConnectOptions};
pub use usage::{DfDetail, ImageUsage, VolumeUsage};
pub use volume::VolumeCreateOptions;

/// One store root and everything kept under it.
#[derive(Debug, Clone)]
pub struct Engine {
    root: PathBuf,
}

impl Engine {
    pub fn new(root: impl Into<PathBuf>) -> Engine {
        Engine { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The container records (`<root>/containers`).
    pub fn containers(&self) -> Containers {
        Containers::new(self.root.join("containers"))
    }
}
