//! kiln's executor: runs one isolated process from plain paths.
//!
//! Layers, read from the bottom up (youki's order): [`cgroups`] knows
//! nothing of containers; [`process`] is the re-executed init helper
//! (namespaces, rootfs, capabilities, seccomp, user); [`container`] is the
//! run lifecycle a caller drives (start, signals, terminal, exit status).
//! Every mount and namespace call goes through [`syscalls::Syscalls`], so
//! the mount and namespace plans are unit-tested without root.
//!
//! The runtime never sees the store: callers hand it directories
//! ([`Rootfs`]) and an OCI runtime [`Spec`](oci_spec::runtime::Spec), which
//! [`spec::Config`] builds with Docker's defaults.

pub mod cgroups;
pub mod container;
pub mod go_duration;
pub mod helper;
pub mod network;
pub mod process;
pub mod rootless;
pub mod sandbox;
pub mod spec;
pub mod syscalls;
#[cfg(test)]
mod testkit;
pub mod volume;

pub use container::{start, ExitStatus, Outcome, Request, Running, Stdio};
pub use oci_spec;
pub use process::exec::{ExecError, ExecErrorKind};
pub use process::rootfs::Rootfs;
pub use process::user::{resolve_groups, resolve_user, ResolvedUser};

/// Everything the runtime can fail with, gathered from its modules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cgroup(#[from] cgroups::Error),
    #[error(transparent)]
    Container(#[from] container::Error),
    #[error(transparent)]
    Spec(#[from] spec::Error),
    #[error(transparent)]
    User(#[from] process::user::Error),
    #[error(transparent)]
    Exec(#[from] ExecError),
}
