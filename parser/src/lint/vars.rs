//! Variable rules: `UndefinedVar`, `UndefinedArgInFrom`, and
//! `WorkdirRelativePath` (which needs the expanded path). The linter
//! replays BuildKit's scoping: global `ARG`s are visible to `FROM` only; a
//! stage sees its own `ARG`s and `ENV`s and the `ENV`s of a stage it is
//! built `FROM`. Base images are not pulled, so variables an image's config
//! would set are unknown here (only `PATH`, which BuildKit always sets, is
//! assumed).

use std::collections::HashMap;

use crate::ast::{ArgDecl, Instruction, InstructionKind};
use crate::expand::{ExpandError, Lexer};

use super::stages::Stages;
use super::{Report, Severity};

/// The automatic platform `ARG`s, usable in `FROM` without a declaration.
const PLATFORM_ARGS: [(&str, &str); 8] = [
    ("TARGETPLATFORM", "linux/amd64"),
    ("TARGETOS", "linux"),
    ("TARGETARCH", "amd64"),
    ("TARGETVARIANT", ""),
    ("BUILDPLATFORM", "linux/amd64"),
    ("BUILDOS", "linux"),
    ("BUILDARCH", "amd64"),
    ("BUILDVARIANT", ""),
];

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

type Vars = HashMap<String, String>;

pub(crate) fn check(stages: &Stages, lexer: Lexer, report: &mut Report) {
    let mut global: Vars = PLATFORM_ARGS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for inst in &stages.global {
        if let InstructionKind::Arg(decls) = &inst.kind {
            let visible = global.clone();
            declare_args(decls, inst, &mut global, &visible, lexer, report);
        }
    }
    let arg_lines = arg_lines(stages);
    let mut stage_envs: Vec<Vars> = Vec::new();
    for stage in &stages.stages {
        let from = stage.from_instruction;
        for word in std::iter::once(&stage.from.image).chain(stage.from.platform.as_ref()) {
            let Some(e) = expand(word, &global, lexer, from, report) else {
                continue;
            };
            for name in e.unset {
                let later = arg_lines.get(&name).filter(|&&l| l > from.span.start_line);
                let message = match later {
                    Some(l) => format!(
                        "FROM argument '{name}' is not declared (ARG {name} on line {l} comes after this FROM; declare it before the first FROM)"
                    ),
                    None => format!("FROM argument '{name}' is not declared{}", suggest(&name, &global)),
                };
                report.push("UndefinedArgInFrom", Severity::Warning, from, message);
            }
        }
        let base = stage_envs
            .iter()
            .zip(&stages.stages)
            .rev()
            .find(|(_, s)| s.lower_name() == Some(stage.from.image.to_lowercase()))
            .map(|(env, _)| env.clone());
        let mut env =
            base.unwrap_or_else(|| Vars::from([("PATH".to_string(), DEFAULT_PATH.to_string())]));
        let mut args = Vars::new();
        let mut workdir_set = false;
        for inst in &stage.body {
            let visible: Vars = args
                .iter()
                .chain(env.iter())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let words = expanded_words(inst);
            for w in &words {
                if let Some(e) = expand(w, &visible, lexer, inst, report) {
                    for name in e.unset {
                        let message = format!(
                            "Usage of undefined variable '${name}'{}",
                            suggest(&name, &visible)
                        );
                        report.push("UndefinedVar", Severity::Warning, inst, message);
                    }
                }
            }
            match &inst.kind {
                InstructionKind::Arg(decls) => {
                    declare_args(decls, inst, &mut args, &visible, lexer, report)
                }
                InstructionKind::Env(e) => {
                    for kv in &e.pairs {
                        let value = lexer.process_word(&kv.value, &visible).unwrap_or_default();
                        env.insert(kv.key.clone(), value);
                    }
                }
                InstructionKind::Workdir(dir) => {
                    let path = lexer
                        .process_word(dir, &visible)
                        .unwrap_or_else(|_| dir.clone());
                    if !workdir_set && !is_absolute(&path) {
                        let message = format!(
                            "Relative workdir {path:?} can have unexpected results if the base image changes"
                        );
                        report.push("WorkdirRelativePath", Severity::Warning, inst, message);
                    }
                    workdir_set = true;
                }
                _ => {}
            }
        }
        stage_envs.push(env);
    }
}

/// `ARG name[=default]…`: each default is expanded with what was visible
/// before the instruction; an `ARG` without a default keeps the value of a
/// global `ARG` of the same name, as BuildKit does.
fn declare_args(
    decls: &[ArgDecl],
    inst: &Instruction,
    into: &mut Vars,
    visible: &Vars,
    lexer: Lexer,
    report: &mut Report,
) {
    for d in decls {
        let value = match &d.default {
            Some(default) => {
                if let Some(e) = expand(default, visible, lexer, inst, report) {
                    for name in e.unset {
                        let message = format!(
                            "Usage of undefined variable '${name}'{}",
                            suggest(&name, visible)
                        );
                        report.push("UndefinedVar", Severity::Warning, inst, message);
                    }
                }
                lexer.process_word(default, visible).unwrap_or_default()
            }
            None => visible.get(&d.name).cloned().unwrap_or_default(),
        };
        into.insert(d.name.clone(), value);
    }
}

/// The words of an instruction that BuildKit expands with the build's
/// variables (not `RUN`, `CMD`, `ENTRYPOINT`: their shell does that).
fn expanded_words(inst: &Instruction) -> Vec<&String> {
    match &inst.kind {
        InstructionKind::Env(e) => e.pairs.iter().map(|kv| &kv.value).collect(),
        InstructionKind::Label(kvs) => kvs.iter().flat_map(|kv| [&kv.key, &kv.value]).collect(),
        InstructionKind::Workdir(w) | InstructionKind::User(w) | InstructionKind::Stopsignal(w) => {
            vec![w]
        }
        InstructionKind::Expose(v) | InstructionKind::Volume(v) => v.iter().collect(),
        InstructionKind::Copy(c) | InstructionKind::Add(c) => {
            let mut words: Vec<&String> =
                c.sources.iter().chain(std::iter::once(&c.dest)).collect();
            words.extend(c.chown.iter().chain(c.chmod.iter()).chain(c.exclude.iter()));
            words
        }
        _ => Vec::new(),
    }
}

/// Expand one word for the lint. A syntax error is reported (the build
/// would fail on it); `${V?msg}` failures depend on build-time values and
/// are not.
fn expand(
    word: &str,
    vars: &Vars,
    lexer: Lexer,
    inst: &Instruction,
    report: &mut Report,
) -> Option<crate::expand::Expansion> {
    match lexer.expand(word, vars) {
        Ok(e) => Some(e),
        Err(ExpandError::Required { .. }) => None,
        Err(err) => {
            let message = format!("failed to process {word:?}: {err}");
            report.push("InvalidSubstitution", Severity::Error, inst, message);
            None
        }
    }
}

/// The line of the first `ARG` declaring each name (for the "declared
/// after FROM" hint).
fn arg_lines(stages: &Stages) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    let all = stages
        .global
        .iter()
        .chain(stages.stages.iter().flat_map(|s| s.body.iter()));
    for inst in all {
        if let InstructionKind::Arg(decls) = &inst.kind {
            for d in decls {
                lines.entry(d.name.clone()).or_insert(inst.span.start_line);
            }
        }
    }
    lines
}

/// BuildKit suggests a declared name that differs only in case.
fn suggest(name: &str, vars: &Vars) -> String {
    let mut close: Vec<&String> = vars
        .keys()
        .filter(|k| k.eq_ignore_ascii_case(name))
        .collect();
    close.sort();
    match close.first() {
        Some(k) => format!(" (did you mean ${k}?)"),
        None => String::new(),
    }
}

/// `/x`, or a Windows drive path (`C:\x`, `C:/x`) for Windows images.
fn is_absolute(path: &str) -> bool {
    let b = path.as_bytes();
    path.starts_with('/')
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && matches!(b[2], b'\\' | b'/'))
}
