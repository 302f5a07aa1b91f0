//! Rules that look at instructions and stages without expanding words.
//! Names and messages are BuildKit's (docs.docker.com/go/dockerfile/rule/…).

use std::collections::HashMap;

use crate::ast::{CommandLine, Dockerfile, InstructionKind};

use super::stages::Stages;
use super::{Report, Severity};

/// `ConsistentInstructionCasing`: keywords should all be upper or all lower
/// case, whichever the file mostly uses.
pub(crate) fn instruction_casing(df: &Dockerfile, report: &mut Report) {
    let upper = df
        .instructions
        .iter()
        .filter(|i| i.keyword == i.keyword.to_uppercase())
        .count();
    let lower = df
        .instructions
        .iter()
        .filter(|i| i.keyword == i.keyword.to_lowercase())
        .count();
    let (majority, want_upper) = if lower > upper {
        ("lowercase", false)
    } else {
        ("uppercase", true)
    };
    for inst in &df.instructions {
        let fits = if want_upper {
            inst.keyword == inst.keyword.to_uppercase()
        } else {
            inst.keyword == inst.keyword.to_lowercase()
        };
        if !fits {
            let message = format!(
                "Command '{}' should match the case of the command majority ({majority})",
                inst.keyword
            );
            report.push(
                "ConsistentInstructionCasing",
                Severity::Warning,
                inst,
                message,
            );
        }
    }
}

/// `FromAsCasing`, `StageNameCasing`, `DuplicateStageName`,
/// `ReservedStageName`.
pub(crate) fn stage_names(stages: &Stages, report: &mut Report) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for stage in &stages.stages {
        let inst = stage.from_instruction;
        if let Some(as_kw) = &stage.from.as_keyword {
            let from_upper = inst.keyword == inst.keyword.to_uppercase();
            let from_lower = inst.keyword == inst.keyword.to_lowercase();
            let mismatch = (from_upper && *as_kw != as_kw.to_uppercase())
                || (from_lower && *as_kw != as_kw.to_lowercase());
            if mismatch {
                let message = format!(
                    "'{as_kw}' and '{}' keywords' casing do not match",
                    inst.keyword
                );
                report.push("FromAsCasing", Severity::Warning, inst, message);
            }
        }
        let Some(name) = &stage.from.name else {
            continue;
        };
        let lower = name.to_lowercase();
        if *name != lower {
            let message = format!("Stage name '{name}' should be lowercase");
            report.push("StageNameCasing", Severity::Warning, inst, message);
        }
        if lower == "scratch" || lower == "context" {
            let message =
                format!("Stage name should not use the same name as reserved stage {lower:?}");
            report.push("ReservedStageName", Severity::Warning, inst, message);
        }
        if let Some(first) = seen.insert(lower.clone(), inst.span.start_line) {
            let message = format!(
                "Duplicate stage name {lower:?}, stage names should be unique (first used on line {first})"
            );
            report.push("DuplicateStageName", Severity::Warning, inst, message);
        }
    }
}

/// Rules on single instructions within each stage: `MultipleInstructionsDisallowed`,
/// `JSONArgsRecommended`, `MaintainerDeprecated`, `LegacyKeyValueFormat`.
pub(crate) fn stage_bodies(stages: &Stages, report: &mut Report) {
    for stage in &stages.stages {
        let mut custom_shell = false;
        for (i, inst) in stage.body.iter().enumerate() {
            let name = match &inst.kind {
                InstructionKind::Cmd(_) => Some("CMD"),
                InstructionKind::Entrypoint(_) => Some("ENTRYPOINT"),
                InstructionKind::Healthcheck(_) => Some("HEALTHCHECK"),
                _ => None,
            };
            let repeated = name.is_some_and(|_| {
                stage.body[i + 1..].iter().any(|later| {
                    std::mem::discriminant(&later.kind) == std::mem::discriminant(&inst.kind)
                })
            });
            if let (Some(name), true) = (name, repeated) {
                let message = format!(
                    "Multiple {name} instructions should not be used in the same stage because only the last one will be used"
                );
                report.push(
                    "MultipleInstructionsDisallowed",
                    Severity::Warning,
                    inst,
                    message,
                );
            }
            match &inst.kind {
                InstructionKind::Shell(_) => custom_shell = true,
                InstructionKind::Cmd(CommandLine::Shell(_))
                | InstructionKind::Entrypoint(CommandLine::Shell(_))
                    if !custom_shell =>
                {
                    let message = format!(
                        "JSON arguments recommended for {} to prevent unintended behavior related to OS signals",
                        name.unwrap_or_default()
                    );
                    report.push("JSONArgsRecommended", Severity::Warning, inst, message);
                }
                InstructionKind::Maintainer(_) => {
                    let message =
                        "Maintainer instruction is deprecated in favor of using label".to_string();
                    report.push("MaintainerDeprecated", Severity::Warning, inst, message);
                }
                InstructionKind::Env(e) if e.legacy => {
                    let message =
                        "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format".to_string();
                    report.push("LegacyKeyValueFormat", Severity::Warning, inst, message);
                }
                _ => {}
            }
        }
    }
}

/// `UnreachableStage` (kiln's own rule): a stage that neither the target nor
/// any stage the target needs refers to is never built.
pub(crate) fn unreachable_stages(stages: &Stages, target: Option<&str>, report: &mut Report) {
    let Some(target) = stages.target(target) else {
        return;
    };
    for i in stages.unreachable(target) {
        let stage = &stages.stages[i];
        let label = match &stage.from.name {
            Some(name) => format!("Stage '{name}'"),
            None => format!("Stage {i}"),
        };
        let message = format!("{label} is not used by the target stage and will not be built");
        report.push(
            "UnreachableStage",
            Severity::Warning,
            stage.from_instruction,
            message,
        );
    }
}
