//! End-to-end tests of the `kiln` binary: one test binary, a module per
//! feature.

mod bounded;
mod build;
mod build_history;
mod build_network;
mod buildkit_surface;
mod cache;
mod cache_mounts;
mod check;
mod containers;
mod containment;
mod context;
mod crash;
mod debug_ast;
mod expand;
mod hostile_input;
mod image;
mod image_pull;
mod interop;
mod keep;
mod registry;
mod remotecache;
mod run;
mod screen;
mod support;
mod why;
