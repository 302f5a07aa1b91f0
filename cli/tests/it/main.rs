//! End-to-end tests of the `kiln` binary: one test binary, a module per
//! feature.

mod support;
