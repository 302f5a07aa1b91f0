//! Dockerfile and .dockerignore syntax for kiln: the grammar, a typed AST
//! with spans, parser directives, heredocs, word expansion, ignore matching,
//! lint rules and BuildKit's reference dump. This crate does no IO beyond
//! what its callers hand it.

pub mod expand;
pub mod ignore;
pub mod lint;
