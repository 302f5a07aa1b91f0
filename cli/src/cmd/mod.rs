//! One module per command group. Each group is a clap type with a `run`.

pub mod ast;
pub mod build;
pub mod cache;
pub mod check;
pub mod container;
pub mod context;
pub mod debug;
pub mod events;
pub mod expand;
pub mod filter;
pub mod image;
pub mod info;
pub mod registry;
pub mod search;
pub mod seccomp;
pub mod stats;
pub mod system;
pub mod update;
pub mod version;
pub mod why;
