//! Dockerfile and .dockerignore syntax for kiln: the grammar, a typed AST
//! with spans, parser directives, heredocs, word expansion, ignore matching,
//! lint rules and BuildKit's reference dump. This crate does no IO beyond
//! what its callers hand it.

pub mod ast;
pub mod dump;
pub mod error;
pub mod excerpt;
pub mod expand;
pub mod ignore;
pub mod lint;
pub mod parse;
mod quote;

pub use ast::{Dockerfile, RawDockerfile};
pub use dump::dump;
pub use error::{ErrorKind, ParseError};
pub use parse::{parse, parse_raw};
pub use quote::quote;
