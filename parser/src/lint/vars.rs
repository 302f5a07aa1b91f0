//! Variable rules: `UndefinedVar`, `UndefinedArgInFrom`, and
//! `WorkdirRelativePath` (which needs the expanded path). The linter
//! replays BuildKit's scoping: global `ARG`s are visible to `FROM` only; a
//! stage sees its own `ARG`s and `ENV`s and the `ENV`s of a stage it is
//! built `FROM`. Base images are not pulled, so variables an image's config
//! would set are unknown here (only `PATH`, which BuildKit always sets, is
//! assumed).

use std::collections::{BTreeSet, HashMap};

use crate::ast::{ArgDecl, Instruction, InstructionKind};
use crate::expand::{Env, ExpandError, Lexer};

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

/// Variables by name, with the names folded to ASCII lower case for the
/// "did you mean" hint: a lookup per unset name instead of a scan of every
/// variable (100,000 `ENV` lines each naming an unset variable were
/// quadratic).
#[derive(Debug, Clone, Default)]
struct Vars {
    values: HashMap<String, String>,
    folded: HashMap<String, BTreeSet<String>>,
}

impl Vars {
    fn insert(&mut self, name: String, value: String) {
        self.folded
            .entry(name.to_ascii_lowercase())
            .or_default()
            .insert(name.clone());
        self.values.insert(name, value);
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The first name (in byte order) equal to `name` but for ASCII case.
    fn closest(&self, name: &str) -> Option<&String> {
        self.folded.get(&name.to_ascii_lowercase())?.first()
    }
}

/// What a word sees: a stage's `ARG`s, then its `ENV`s (an `ENV` wins over
/// an `ARG` of the same name), looked up in place rather than copied into
/// one map per instruction (which made the lint quadratic).
#[derive(Clone, Copy)]
struct Visible<'a> {
    args: &'a Vars,
    env: Option<&'a Vars>,
}

impl Env for Visible<'_> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.env
            .and_then(|e| e.get(name))
            .or_else(|| self.args.get(name))
    }
}

impl Visible<'_> {
    /// BuildKit suggests a declared name that differs only in case.
    fn suggest(&self, name: &str) -> String {
        let close = [Some(self.args), self.env]
            .into_iter()
            .flatten()
            .filter_map(|v| v.closest(name))
            .min();
        match close {
            Some(k) => format!(" (did you mean ${k}?)"),
            None => String::new(),
        }
    }
}

pub(crate) fn check(stages: &Stages, lexer: Lexer, report: &mut Report) {
    let mut global = Vars::default();
    for (k, v) in PLATFORM_ARGS {
        global.insert(k.to_string(), v.to_string());
    }
    for inst in &stages.global {
        if let InstructionKind::Arg(decls) = &inst.kind {
            let visible = Visible {
                args: &global,
                env: None,
            };
            let values = declare_args(decls, inst, visible, lexer, report);
            for (k, v) in values {
                global.insert(k, v);
            }
        }
    }
    let global_only = Visible {
        args: &global,
        env: None,
    };
    let arg_lines = arg_lines(stages);
    // The env each named stage ended with, by lower-cased name (the last
    // stage of a name wins, as the backwards search this replaces found).
    let mut named_envs: HashMap<String, usize> = HashMap::new();
    let mut stage_envs: Vec<Vars> = Vec::new();
    for stage in &stages.stages {
        let from = stage.from_instruction;
        for word in std::iter::once(&stage.from.image).chain(stage.from.platform.as_ref()) {
            let Some(e) = expand(word, &global_only, lexer, from, report) else {
                continue;
            };
            for name in e.unset {
                let later = arg_lines.get(&name).filter(|&&l| l > from.span.start_line);
                let message = match later {
                    Some(l) => format!(
                        "FROM argument '{name}' is not declared (ARG {name} on line {l} comes after this FROM; declare it before the first FROM)"
                    ),
                    None => format!(
                        "FROM argument '{name}' is not declared{}",
                        global_only.suggest(&name)
                    ),
                };
                report.push("UndefinedArgInFrom", Severity::Warning, from, message);
            }
        }
        let base = named_envs
            .get(&stage.from.image.to_lowercase())
            .map(|&i| stage_envs[i].clone());
        let mut env = base.unwrap_or_else(|| {
            let mut v = Vars::default();
            v.insert("PATH".to_string(), DEFAULT_PATH.to_string());
            v
        });
        let mut args = Vars::default();
        let mut workdir_set = false;
        for inst in &stage.body {
            // Everything below reads what was visible before the instruction;
            // what it declares is inserted after.
            let visible = Visible {
                args: &args,
                env: Some(&env),
            };
            let words = expanded_words(inst);
            for w in &words {
                if let Some(e) = expand(w, &visible, lexer, inst, report) {
                    for name in e.unset {
                        let message = format!(
                            "Usage of undefined variable '${name}'{}",
                            visible.suggest(&name)
                        );
                        report.push("UndefinedVar", Severity::Warning, inst, message);
                    }
                }
            }
            match &inst.kind {
                InstructionKind::Arg(decls) => {
                    let values = declare_args(decls, inst, visible, lexer, report);
                    for (k, v) in values {
                        args.insert(k, v);
                    }
                }
                InstructionKind::Env(e) => {
                    let values: Vec<(String, String)> = e
                        .pairs
                        .iter()
                        .map(|kv| {
                            let value = lexer.process_word(&kv.value, &visible).unwrap_or_default();
                            (kv.key.clone(), value)
                        })
                        .collect();
                    for (k, v) in values {
                        env.insert(k, v);
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
        if let Some(name) = stage.lower_name() {
            named_envs.insert(name, stage_envs.len());
        }
        stage_envs.push(env);
    }
}

/// `ARG name[=default]…`: each default is expanded with what was visible
/// before the instruction; an `ARG` without a default keeps the value of a
/// global `ARG` of the same name, as BuildKit does. Returns the values to
/// declare, in order.
fn declare_args(
    decls: &[ArgDecl],
    inst: &Instruction,
    visible: Visible<'_>,
    lexer: Lexer,
    report: &mut Report,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in decls {
        let value = match &d.default {
            Some(default) => {
                if let Some(e) = expand(default, &visible, lexer, inst, report) {
                    for name in e.unset {
                        let message = format!(
                            "Usage of undefined variable '${name}'{}",
                            visible.suggest(&name)
                        );
                        report.push("UndefinedVar", Severity::Warning, inst, message);
                    }
                }
                lexer.process_word(default, &visible).unwrap_or_default()
            }
            None => visible.lookup(&d.name).unwrap_or_default().to_string(),
        };
        out.push((d.name.clone(), value));
    }
    out
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
    vars: &Visible<'_>,
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

/// `/x`, or a Windows drive path (`C:\x`, `C:/x`) for Windows images.
fn is_absolute(path: &str) -> bool {
    let b = path.as_bytes();
    path.starts_with('/')
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && matches!(b[2], b'\\' | b'/'))
}

#[cfg(test)]
mod tests {
    use crate::lint::{check, LintOptions};

    /// 20,000 ENV lines lint in a moment in a debug build (before: one
    /// copy of every variable per instruction, and a scan of them per
    /// hint). No clock: what is checked is that each line still sees the
    /// ones before it and gets its hint.
    #[test]
    fn twenty_thousand_env_lines_each_see_the_earlier_ones() {
        let mut text = String::from("FROM scratch AS base\nENV Name=x\n");
        for i in 1..20_000 {
            text.push_str(&format!("ENV V{i}=${{V{}}}$name\n", i - 1));
        }
        text.push_str("FROM base\nENV LAST=$V19999\n");
        let df = crate::parse(text.as_bytes()).unwrap();
        let found = check(&df, &LintOptions::default());
        let undefined: Vec<_> = found.iter().filter(|d| d.rule == "UndefinedVar").collect();
        // $V0 is unset on the first line only; $name everywhere, with a hint.
        assert_eq!(undefined.len(), 20_000);
        assert_eq!(undefined[0].message, "Usage of undefined variable '$V0'");
        assert!(undefined[1..]
            .iter()
            .all(|d| d.message == "Usage of undefined variable '$name' (did you mean $Name?)"));
        // The second stage sees the first one's env: $V19999 is set.
        assert!(!found.iter().any(|d| d.message.contains("V19999")));
    }
}
