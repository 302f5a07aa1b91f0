//! `FROM --platform=…`: which platform a stage's base image is for. BuildKit
//! expands the flag with the global ARGs (so `--platform=$BUILDPLATFORM`
//! keeps a compile stage native while `--platform` picks the target of the
//! final one); without it a stage is for the build's `--platform`, else for
//! this machine.

use kiln_cache::image::ImageConfig;
use kiln_cache::registry::Platform;
use kiln_parser::expand::Lexer;

use crate::plan::Stage;
use crate::variables::{host_platform, Scope};
use crate::BuildError;

/// The platform `stage` is built for.
pub fn for_stage(
    stage: &Stage,
    globals: &Scope,
    lexer: &Lexer,
    build: Option<&Platform>,
) -> Result<Platform, BuildError> {
    let Some(flag) = &stage.from.platform else {
        return Ok(build.cloned().unwrap_or_else(host_platform));
    };
    let bad = |message: String| BuildError::Instruction {
        line: stage.line,
        message,
    };
    let text = lexer
        .process_word(flag, globals)
        .map_err(|e| bad(format!("FROM --platform: {e}")))?;
    Platform::parse(&text).map_err(|e| bad(format!("FROM --platform={text}: {e}")))
}

/// A base image made for another platform than the stage's.
#[derive(Debug, thiserror::Error)]
#[error(
    "base image {name:?} is for {os}/{arch}, but this stage is built for {wanted}; \
     pull the {wanted} image (kiln pull --platform {wanted} {name}) or build with --platform {os}/{arch}"
)]
pub struct ForeignBase {
    pub name: String,
    /// `linux` when the config names none.
    pub os: String,
    pub arch: String,
    /// The stage's platform, as `os/arch[/variant]`.
    pub wanted: String,
}

/// Refuses a base image made for another platform than `wanted`: running
/// it would either fail or, worse, label foreign binaries as `wanted`.
/// Configs that name no architecture are taken as they are.
pub fn check_base(name: &str, config: &ImageConfig, wanted: &Platform) -> Result<(), ForeignBase> {
    let field = |k: &str| config.doc.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let (os, arch) = (field("os"), field("architecture"));
    if arch.is_empty() || (arch == wanted.architecture && (os.is_empty() || os == wanted.os)) {
        return Ok(());
    }
    Err(ForeignBase {
        name: name.to_string(),
        os: if os.is_empty() { "linux" } else { os }.to_string(),
        arch: arch.to_string(),
        wanted: wanted.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(arch: &str) -> ImageConfig {
        ImageConfig {
            doc: json!({"os": "linux", "architecture": arch}),
        }
    }

    #[test]
    fn a_base_for_another_architecture_is_refused_by_name() {
        let arm = Platform::parse("linux/arm64").unwrap();
        assert!(check_base("busybox", &config("arm64"), &arm).is_ok());
        let e = check_base("busybox", &config("amd64"), &arm)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"busybox\" is for linux/amd64"), "{e}");
        assert!(e.contains("built for linux/arm64"), "{e}");
        let silent = ImageConfig { doc: json!({}) };
        assert!(check_base("x", &silent, &arm).is_ok());
    }

    #[test]
    fn the_flag_is_expanded_with_the_global_args() {
        let df = kiln_parser::parse(b"FROM --platform=$BUILDPLATFORM busybox AS b\nFROM busybox\n")
            .unwrap();
        let plan = crate::plan::Plan::new(&df).unwrap();
        let mut globals = Scope::default();
        globals.set("BUILDPLATFORM", "linux/amd64".into());
        let arm = Platform::parse("linux/arm64").unwrap();
        let lexer = Lexer::default();
        let first = for_stage(&plan.stages[0], &globals, &lexer, Some(&arm)).unwrap();
        assert_eq!(first.to_string(), "linux/amd64");
        let second = for_stage(&plan.stages[1], &globals, &lexer, Some(&arm)).unwrap();
        assert_eq!(second, arm);
    }
}
