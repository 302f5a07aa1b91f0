//! The init helper and what it applies: namespaces, rootfs, capabilities,
//! seccomp, user, pty, and an optional reaper as PID 1.

pub mod capabilities;
pub mod cgroup_mount;
pub mod exec;
pub mod init;
pub mod namespaces;
mod orphans;
pub mod protocol;
pub mod pty;
pub mod reaper;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod sysctl;
pub mod user;
