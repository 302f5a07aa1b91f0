//! Integration tests of kiln-parser: one binary, a module per concern.

mod conformance;
mod never_panics;
mod typed;
