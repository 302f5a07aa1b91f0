//! Dispatch: walk a stage's instructions as BuildKit's dockerfile2llb does,
//! before anything runs. Config-only instructions change the image config
//! (each with an `empty_layer` history entry, except ONBUILD, which has
//! none); RUN, COPY, ADD and WORKDIR (other than `/`) become steps with
//! their cache keys, and every step makes a layer, an empty one when it
//! changed nothing. Every key of the chain is known here, so a fully cached
//! build never touches layer data.

use std::collections::HashMap;
use std::sync::Arc;

use kiln_cache::image::ImageConfig;
use kiln_cache::{Digest, Store};
use kiln_parser::ast::{
    CommandLine, Copy, Healthcheck, Instruction, InstructionKind, Network, Run,
};
use kiln_parser::expand::Lexer;
use serde_json::{json, Value};

mod copy;
mod copyflags;
mod created_by;
mod mounts;
mod remote;
mod run;
mod step;

pub use mounts::{MountFrom, RunMount};
pub use remote::Remote;
pub use step::{Base, CopyFrom, CopyOp, Op, RunOp, StagePlan, Step};

use crate::cachekey::KeyBuilder;
use crate::context::select::Selected;
use crate::plan::{stage_ref, Stage};
use crate::variables::{BuildArgs, EnvList, Scope, StageVars, PROXY_ARGS};
use crate::BuildError;

/// Selects COPY sources in the context: the entries and their digests.
pub type SelectSources<'a> = dyn Fn(&str) -> Result<(Vec<Selected>, Vec<String>), BuildError> + 'a;

/// Everything dispatch reads besides the Dockerfile.
pub struct Inputs<'a> {
    pub store: &'a Store,
    pub lexer: Lexer,
    pub build_args: &'a BuildArgs,
    pub globals: &'a Scope,
    pub context: &'a SelectSources<'a>,
    pub no_cache: &'a dyn Fn(&str) -> bool,
    pub created: String,
    /// The build's `--platform` (stages without `FROM --platform` use it).
    pub platform: Option<&'a kiln_cache::registry::Platform>,
    /// The Dockerfile's text, for ONBUILD triggers as written.
    pub source: &'a str,
    /// `kiln build --network none`.
    pub network_none: bool,
    /// `kiln build --network host`.
    pub network_host: bool,
    /// `kiln build --allow network.host` (BuildKit's entitlement).
    pub allow_network_host: bool,
    /// `--build-context` names (OCI layouts already loaded as images).
    pub named: &'a std::collections::BTreeMap<String, crate::context::named::NamedContext>,
    /// Checked once per instruction: a huge Dockerfile stops planning
    /// when the build is cancelled.
    pub cancel: &'a crate::cancel::Cancel,
}

/// The image a `--build-context` name stands for, when it names one.
fn named_image(inputs: &Inputs<'_>, line: usize, name: &str) -> Result<Option<String>, BuildError> {
    use crate::context::named::NamedContext as N;
    match inputs.named.get(name) {
        None => Ok(None),
        Some(N::Image(r)) => Ok(Some(r.clone())),
        Some(_) => Err(err(
            line,
            format!("build context {name:?}: only image contexts (docker-image://, oci-layout://) can be used here so far"),
        )),
    }
}

/// Stages dispatched so far, by index.
pub type Dispatched = HashMap<usize, Arc<StagePlan>>;

struct State<'a> {
    inputs: &'a Inputs<'a>,
    stage: &'a Stage,
    /// The config without its history entries (kept in `history`) and,
    /// while `env_dirty`, without the latest ENV values (kept in `env`).
    /// Steps hold `Arc` clones of it; the next change copies it once.
    config: Arc<ImageConfig>,
    /// The history entries: the base's, then one per instruction.
    history: Vec<Value>,
    /// The base config's `history` was a list (it goes back even if empty).
    had_history: bool,
    env: EnvList,
    /// `env` has values the config's `Env` does not show yet.
    env_dirty: bool,
    args: Scope,
    key: String,
    shell: Vec<String>,
    steps: Vec<Step>,
    position: usize,
    total: usize,
    no_cache: bool,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// See [`StagePlan::declared_args`].
    declared_args: Vec<(String, String)>,
}

/// An instruction's error at `line`, as text: the build puts the file
/// name in front of it (`locate`).
fn err(line: usize, message: impl std::fmt::Display) -> BuildError {
    BuildError::Instruction {
        line,
        message: message.to_string(),
    }
}

/// Resolves the base of `stage` and walks its instructions.
pub fn dispatch(
    inputs: &Inputs<'_>,
    stage: &Stage,
    stages: &[Stage],
    done: &Dispatched,
) -> Result<StagePlan, BuildError> {
    let from_name = inputs
        .lexer
        .process_word(&stage.from.image, inputs.globals)
        .map_err(|e| err(stage.line, e))?;
    let platform =
        crate::platform::for_stage(stage, inputs.globals, &inputs.lexer, inputs.platform)?;
    let (base, config, base_key) =
        resolve_base(inputs, stage, stages, done, &from_name, &platform)?;
    let declared_args = match &base {
        Base::Stage(i) => done[i].declared_args.clone(),
        _ => Vec::new(),
    };
    let onbuild = config.strings("OnBuild").unwrap_or_default();
    let mut config = config;
    let (history, had_history) = match config.doc.get_mut("history") {
        Some(Value::Array(h)) => (std::mem::take(h), true),
        _ => (Vec::new(), false),
    };
    let env = EnvList::new(config.env());
    let mut state = State {
        inputs,
        stage,
        config: Arc::new(config),
        history,
        had_history,
        env,
        env_dirty: false,
        args: Scope::default(),
        key: base_key.clone(),
        shell: vec!["/bin/sh".into(), "-c".into()],
        steps: Vec::new(),
        position: 1,
        total: stage.instructions.len() + 1,
        no_cache: (inputs.no_cache)(&stage.label()),
        cmd_set: false,
        declared_args,
    };
    if let Some(shell) = state.config.strings("Shell").filter(|s| !s.is_empty()) {
        state.shell = shell;
    }
    // ONBUILD triggers of the base run right after FROM and are not inherited.
    if !onbuild.is_empty() {
        state.config_mut().set("OnBuild", Value::Null);
        for trigger in onbuild {
            let df = kiln_parser::parse(trigger.as_bytes())
                .map_err(|e| err(stage.line, format!("ONBUILD trigger {trigger:?}: {e}")))?;
            for mut ins in df.instructions {
                inputs.cancel.checkpoint()?;
                ins.span.start_line = stage.line;
                state.instruction(&ins, stages, done)?;
            }
        }
    }
    for ins in &stage.instructions {
        inputs.cancel.checkpoint()?;
        state.position += 1;
        state.instruction(ins, stages, done)?;
    }
    state.flush_env();
    // A stage of 100,000 steps: up to half of the list's room is spare.
    state.steps.shrink_to_fit();
    let mut config = Arc::unwrap_or_clone(state.config);
    if state.had_history || !state.history.is_empty() {
        config.doc["history"] = Value::Array(state.history);
    }
    Ok(StagePlan {
        index: stage.index,
        label: stage.label(),
        base,
        base_key,
        final_key: state.key,
        steps: state.steps,
        config,
        from_name,
        total: stage.instructions.len() + 1,
        declared_args: state.declared_args,
    })
}

fn resolve_base(
    inputs: &Inputs<'_>,
    stage: &Stage,
    stages: &[Stage],
    done: &Dispatched,
    name: &str,
    platform: &kiln_cache::registry::Platform,
) -> Result<(Base, ImageConfig, String), BuildError> {
    let named = named_image(inputs, stage.line, name)?;
    let name = named.as_deref().unwrap_or(name);
    if let Some(i) = stage_ref(stages, stage.index, name)
        .filter(|_| name.parse::<usize>().is_err() && named.is_none())
    {
        let parent = done
            .get(&i)
            .ok_or_else(|| err(stage.line, format!("stage {name:?} was not dispatched")))?;
        // A stage's own ONBUILD triggers fire in the stage built FROM it.
        let config = parent.config.clone();
        return Ok((Base::Stage(i), config, parent.final_key.clone()));
    }
    if name.eq_ignore_ascii_case("scratch") {
        return Ok((
            Base::Scratch,
            ImageConfig::scratch(&platform.architecture),
            "scratch".into(),
        ));
    }
    let entry = inputs.store.resolve_image(name).map_err(|e| {
        err(
            stage.line,
            format!("base image {name:?}: {e} (kiln builds from images in its store: kiln import, kiln load)"),
        )
    })?;
    let bytes = inputs
        .store
        .image_config(&entry.image)
        .map_err(|e| err(stage.line, e))?;
    let config = ImageConfig::from_base(&bytes).map_err(|e| {
        err(
            stage.line,
            format!("base image {name:?}: invalid config: {e}"),
        )
    })?;
    crate::platform::check_base(name, &config, platform).map_err(|e| err(stage.line, e))?;
    let key = format!("image:{}", entry.image.manifest.digest);
    Ok((Base::Image(Box::new(entry)), config, key))
}

impl State<'_> {
    /// Variables an instruction's words are expanded with: the stage's
    /// ARGs, then its ENV (ENV wins over ARG of the same name).
    fn vars(&self) -> StageVars<'_> {
        StageVars {
            args: &self.args,
            env: &self.env,
        }
    }

    /// The config to change: copied first when a step still shares it.
    fn config_mut(&mut self) -> &mut ImageConfig {
        Arc::make_mut(&mut self.config)
    }

    /// Writes the ENV values set since the last flush into the config's
    /// `Env` (all of it, as `ImageConfig::set_env` writes it).
    fn flush_env(&mut self) {
        if !self.env_dirty {
            return;
        }
        self.env_dirty = false;
        let list: Vec<Value> = self
            .env
            .pairs()
            .iter()
            .map(|(k, v)| Value::String(format!("{k}={v}")))
            .collect();
        self.config_mut().set("Env", Value::Array(list));
    }

    fn word(&self, line: usize, w: &str) -> Result<String, BuildError> {
        self.inputs
            .lexer
            .process_word(w, &self.vars())
            .map_err(|e| err(line, e))
    }

    fn name(&self, text: &str) -> String {
        format!(
            "[{} {}/{}] {}",
            self.stage.label(),
            self.position,
            self.total,
            text
        )
    }

    /// An ARG for RUN's history: a name keeps its first place, the value
    /// of its latest declaration.
    fn declare(&mut self, name: &str, value: String) {
        match self.declared_args.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.declared_args.push((name.to_string(), value)),
        }
    }

    fn history(&mut self, created_by: String, empty: bool) {
        let entry =
            kiln_cache::image::document::history_entry(&self.inputs.created, &created_by, empty);
        self.history.push(entry);
    }

    fn instruction(
        &mut self,
        ins: &Instruction,
        stages: &[Stage],
        done: &Dispatched,
    ) -> Result<(), BuildError> {
        let line = ins.span.start_line;
        match &ins.kind {
            InstructionKind::From(_) => Err(err(line, "FROM inside a stage")),
            InstructionKind::Run(run) => self.run(line, run, stages, done),
            InstructionKind::Copy(c) => self.copy(line, c, false, stages, done),
            InstructionKind::Add(c) => self.copy(line, c, true, stages, done),
            InstructionKind::Workdir(w) => self.workdir(line, w),
            InstructionKind::Env(env) => {
                let mut shown = Vec::new();
                for kv in &env.pairs {
                    let value = self.word(line, &kv.value)?;
                    let key = self.word(line, &kv.key)?;
                    self.env.set(&key, value.clone());
                    self.env_dirty = true;
                    shown.push(format!("{key}={value}"));
                }
                self.history(format!("ENV {}", shown.join(" ")), true);
                Ok(())
            }
            InstructionKind::Arg(decls) => {
                let mut shown = Vec::new();
                for d in decls {
                    let value = match self.inputs.build_args.take(&d.name) {
                        Some(v) => Some(v),
                        None => match &d.default {
                            Some(def) => Some(self.word(line, def)?),
                            None => self.inputs.globals.get(&d.name).map(str::to_string),
                        },
                    };
                    self.declare(&d.name, value.clone().unwrap_or_default());
                    match value {
                        Some(v) => {
                            shown.push(format!("{}={v}", d.name));
                            self.args.set(&d.name, v);
                        }
                        None => shown.push(d.name.clone()),
                    }
                }
                self.history(format!("ARG {}", shown.join(" ")), true);
                Ok(())
            }
            InstructionKind::Cmd(c) => self.command_line(line, "Cmd", "CMD", c),
            InstructionKind::Entrypoint(c) => {
                self.command_line(line, "Entrypoint", "ENTRYPOINT", c)
            }
            InstructionKind::Label(pairs) => {
                let mut shown = Vec::new();
                for kv in pairs {
                    let (k, v) = (self.word(line, &kv.key)?, self.word(line, &kv.value)?);
                    self.config_mut()
                        .insert_in("Labels", &k, Value::String(v.clone()));
                    shown.push(format!("{k}={v}"));
                }
                self.history(format!("LABEL {}", shown.join(" ")), true);
                Ok(())
            }
            InstructionKind::Maintainer(m) => {
                self.config_mut().doc["author"] = Value::String(m.clone());
                self.history(format!("MAINTAINER {m}"), true);
                Ok(())
            }
            InstructionKind::Expose(ports) => {
                let mut shown = Vec::new();
                for p in ports {
                    let words = self
                        .inputs
                        .lexer
                        .process_words(p, &self.vars())
                        .map_err(|e| err(line, e))?;
                    for word in words {
                        let port = if word.contains('/') {
                            word.to_ascii_lowercase()
                        } else {
                            format!("{word}/tcp")
                        };
                        self.config_mut()
                            .insert_in("ExposedPorts", &port, json!({}));
                        shown.push(format!("{port}:{{}}"));
                    }
                }
                self.history(format!("EXPOSE map[{}]", shown.join(" ")), true);
                Ok(())
            }
            InstructionKind::Volume(vols) => {
                let mut shown = Vec::new();
                for v in vols {
                    let v = self.word(line, v)?;
                    if v.is_empty() {
                        return Err(err(line, "VOLUME specified can not be an empty string"));
                    }
                    self.config_mut().insert_in("Volumes", &v, json!({}));
                    shown.push(v);
                }
                self.history(format!("VOLUME [{}]", shown.join(" ")), true);
                Ok(())
            }
            InstructionKind::User(u) => {
                let u = self.word(line, u)?;
                self.config_mut().set("User", Value::String(u.clone()));
                self.history(format!("USER {u}"), true);
                Ok(())
            }
            InstructionKind::Stopsignal(s) => {
                let s = self.word(line, s)?;
                self.config_mut()
                    .set("StopSignal", Value::String(s.clone()));
                self.history(format!("STOPSIGNAL {s}"), true);
                Ok(())
            }
            InstructionKind::Shell(shell) => {
                self.shell = shell.clone();
                self.config_mut().set("Shell", json!(shell));
                self.history(format!("SHELL [{}]", shell.join(" ")), true);
                Ok(())
            }
            InstructionKind::Healthcheck(h) => self.healthcheck(h),
            InstructionKind::Onbuild(_) => {
                // Config only: BuildKit's dispatchOnbuild writes no history.
                let text = onbuild_text(ins, self.inputs.source);
                let mut list = self.config.strings("OnBuild").unwrap_or_default();
                list.push(text);
                self.config_mut().set("OnBuild", json!(list));
                Ok(())
            }
        }
    }

    fn command_line(
        &mut self,
        _line: usize,
        field: &str,
        word: &str,
        c: &CommandLine,
    ) -> Result<(), BuildError> {
        let list = match c {
            CommandLine::Exec(args) => args.clone(),
            CommandLine::Shell(text) => {
                let mut l = self.shell.clone();
                l.push(text.clone());
                l
            }
        };
        let shown = created_by::go_quoted(&list);
        self.config_mut().set(field, json!(list));
        // Docker: ENTRYPOINT clears a CMD inherited from the base, not one
        // this stage set (BuildKit's `cmdSet`).
        match field {
            "Cmd" => self.cmd_set = true,
            _ if !self.cmd_set => self.config_mut().set("Cmd", Value::Null),
            _ => {}
        }
        self.history(format!("{word} {shown}"), true);
        Ok(())
    }

    fn healthcheck(&mut self, h: &Healthcheck) -> Result<(), BuildError> {
        let value = match h {
            Healthcheck::None => json!({"Test": ["NONE"]}),
            Healthcheck::Cmd(c) => {
                let test = match &c.command {
                    CommandLine::Exec(a) => std::iter::once("CMD".to_string())
                        .chain(a.iter().cloned())
                        .collect::<Vec<_>>(),
                    CommandLine::Shell(t) => vec!["CMD-SHELL".to_string(), t.clone()],
                };
                let mut v = json!({"Test": test});
                let ns = |d: &std::time::Duration| json!(d.as_nanos() as u64);
                if let Some(d) = &c.interval {
                    v["Interval"] = ns(d);
                }
                if let Some(d) = &c.timeout {
                    v["Timeout"] = ns(d);
                }
                if let Some(d) = &c.start_period {
                    v["StartPeriod"] = ns(d);
                }
                if let Some(d) = &c.start_interval {
                    v["StartInterval"] = ns(d);
                }
                if let Some(r) = c.retries {
                    v["Retries"] = json!(r);
                }
                v
            }
        };
        self.config_mut().set("Healthcheck", value);
        self.history(created_by::healthcheck(h), true);
        Ok(())
    }

    /// The key ingredients every layer step shares: parent key, and the
    /// variables it can see (proxy args never count: BuildKit leaves them out).
    fn base_key(&self, kind: &str) -> KeyBuilder {
        let mut k = KeyBuilder::new(kind);
        k.add("parent", self.key.clone());
        k
    }

    fn push_step(&mut self, line: usize, shown: String, created_by: String, k: KeyBuilder, op: Op) {
        self.flush_env();
        let config_before = Arc::clone(&self.config);
        let history_index = self.history.len();
        self.history(created_by, false);
        let (key, ingredients) = k.finish();
        self.key = key.clone();
        self.steps.push(Step {
            name: self.name(&shown),
            line,
            key,
            ingredients,
            op,
            config_before,
            history_index,
            no_cache: self.no_cache,
        });
    }

    fn workdir(&mut self, line: usize, w: &str) -> Result<(), BuildError> {
        let w = self.word(line, w)?;
        let current = match self.config.text("WorkingDir") {
            c if c.is_empty() => "/".to_string(),
            c => c,
        };
        let path = absolute(&current, &w);
        self.config_mut()
            .set("WorkingDir", Value::String(path.clone()));
        // BuildKit's dispatchWorkdir makes `/` no mkdir and no layer; any
        // other path is a mkdir step, a layer even when the directory exists.
        if path == "/" {
            self.history(format!("WORKDIR {path}"), true);
            return Ok(());
        }
        let user = self.config.text("User");
        let mut k = self.base_key("WORKDIR");
        k.add("path", path.clone());
        k.add("user", user.clone());
        self.push_step(
            line,
            format!("WORKDIR {w}"),
            format!("WORKDIR {path}"),
            k,
            Op::Mkdir { path, user },
        );
        Ok(())
    }
}

/// `path` made absolute against `base` (WORKDIR's and COPY's rule), cleaned.
pub fn absolute(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// An ONBUILD trigger as Docker stores it: the instruction's text.
fn onbuild_text(ins: &Instruction, source: &str) -> String {
    let lines: Vec<&str> = source
        .lines()
        .skip(ins.span.start_line.saturating_sub(1))
        .take(ins.span.end_line.saturating_sub(ins.span.start_line) + 1)
        .collect();
    let text = lines.join("\n");
    let text = text.trim_start();
    let after = text
        .get(7..)
        .filter(|_| text.len() > 7 && text[..7].eq_ignore_ascii_case("onbuild"));
    after.unwrap_or(text).trim().to_string()
}

/// The digest a base contributes to keys, for `cache why`.
pub fn base_digest(base: &Base) -> Option<Digest> {
    match base {
        Base::Image(e) => Some(e.image.manifest.digest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::absolute;

    #[test]
    fn absolute_paths_follow_workdir() {
        assert_eq!(absolute("/", "app"), "/app");
        assert_eq!(absolute("/src", "./out/../bin"), "/src/bin");
        assert_eq!(absolute("/src", "/abs"), "/abs");
        assert_eq!(absolute("/src", "."), "/src");
    }
}

#[cfg(test)]
mod key_tests;
#[cfg(test)]
mod layer_tests;
#[cfg(test)]
pub(crate) mod walk_tests;
