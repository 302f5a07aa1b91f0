//! The walk a build makes over a Dockerfile's stages, for tests: every
//! stage dispatched in order against `store`, with the build args and the
//! context selection a test gives.

use super::*;
use crate::plan::Plan;

pub(crate) fn dispatch_all(
    store: &Store,
    plan: &Plan,
    text: &str,
    build_args: &BuildArgs,
    context: &SelectSources<'_>,
) -> Result<Dispatched, BuildError> {
    let globals = Scope::default();
    let inputs = Inputs {
        store,
        lexer: Lexer::default(),
        build_args,
        globals: &globals,
        context,
        no_cache: &|_| false,
        created: "t".into(),
        platform: None,
        source: text,
        network_none: false,
        network_host: false,
        allow_network_host: false,
        named: &Default::default(),
        cancel: &crate::cancel::Cancel::new(),
    };
    let mut done = Dispatched::new();
    for s in &plan.stages {
        let p = dispatch(&inputs, s, &plan.stages, &done)?;
        done.insert(s.index, Arc::new(p));
    }
    Ok(done)
}

/// No file of the context is selected.
pub(crate) fn empty_context(_: &str) -> Result<(Vec<Selected>, Vec<String>), BuildError> {
    Ok((Vec::new(), Vec::new()))
}
