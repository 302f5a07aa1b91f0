//! Holds: what users of the store outside it (containers, running or
//! stopped) need of it. They are GC roots, like images and cache records.
//!
//! The store does not keep them: the cache crate cannot read container
//! records (it never imports the runtime), and a second copy of "which
//! container uses what" in `meta.db` could disagree with the containers'
//! own records after a crash between the two writes. So whoever asks for a
//! collection passes a [`Holds`] source, which the store calls **under the
//! store lock**, right before it marks: a container recorded by then is
//! seen, and one being created meanwhile is covered by its creator's
//! process lease (`Store::resolve_image` leases the image's snapshots),
//! which lives until the container's record exists.

use std::fmt;

use crate::digest::Digest;
use crate::snapshot::SnapshotId;

/// What one user of the store needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Who, as errors and `cache check` name it (`container 1a2b3c4d5e6f`).
    pub holder: String,
    /// The image ID (config digest) it was made from, if any: `rmi` of it
    /// is refused.
    pub image: Option<Digest>,
    /// The snapshots it stacks (their parents are kept with them).
    pub snapshots: Vec<SnapshotId>,
}

/// Why the holds could not be listed; the collection is then not made.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HoldsError(pub String);

/// A source of holds, asked once per collection, under the store lock (so
/// it must not open the store itself).
pub trait Holds {
    fn holds(&self) -> Result<Vec<Hold>, HoldsError>;
}

/// For callers that know nothing outside the store uses it (tests, a
/// store of its own).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHolds;

impl Holds for NoHolds {
    fn holds(&self) -> Result<Vec<Hold>, HoldsError> {
        Ok(Vec::new())
    }
}

impl Holds for [Hold] {
    fn holds(&self) -> Result<Vec<Hold>, HoldsError> {
        Ok(self.to_vec())
    }
}

impl Holds for Vec<Hold> {
    fn holds(&self) -> Result<Vec<Hold>, HoldsError> {
        Ok(self.clone())
    }
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.holder)
    }
}
