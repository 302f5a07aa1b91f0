//! Layers: a directory written as a deterministic tar (`diff`), a tar
//! unpacked into a snapshot directory (`apply`), and the two spellings of
//! deletions between them (`whiteout`).

pub mod apply;
pub mod diff;
pub mod tar_limits;
pub mod whiteout;
pub(crate) mod xattr;

pub use apply::{apply, Applied, ApplyError};
pub use diff::{diff, diff_measured, diff_measured_aside, DiffError, DiffOptions, LayerDigests};
pub use tar_limits::{LimitedTar, TarLimitError};

#[cfg(test)]
mod escape_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
