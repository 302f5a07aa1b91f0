//! End-to-end tests of the `kiln` binary: one test binary, a module per
//! feature.

mod cache;
mod check;
mod context;
mod crash;
mod debug_ast;
mod expand;
mod image;
mod interop;
mod support;
mod run;
