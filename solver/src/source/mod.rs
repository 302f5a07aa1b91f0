//! Sources from outside the context (BuildKit's `source`): remote files
//! (`http`) and git repositories (`git`).

pub mod git;
pub mod http;
mod httpdate;
