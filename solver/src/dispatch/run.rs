//! RUN: its command line (shell, exec, heredocs), its mounts and network,
//! and the step and key it becomes.

use super::*;
use kiln_parser::expand::Env;

impl State<'_> {
    pub(super) fn run(
        &mut self,
        line: usize,
        run: &Run,
        stages: &[Stage],
        done: &Dispatched,
    ) -> Result<(), BuildError> {
        if run.security == Some(kiln_parser::ast::Security::Insecure) {
            return Err(err(line, "RUN --security=insecure is not supported yet"));
        }
        let (args, script, shown) = self.run_args(run);
        let mut env: Vec<String> = Vec::new();
        let mut k = self.base_key("RUN");
        k.add("cmd", json!(args).to_string());
        if let Some((name, body)) = &script {
            k.add(format!("script:{name}"), body.clone());
        }
        for (name, value) in self.args.pairs() {
            if !self.env.contains(name) {
                env.push(format!("{name}={value}"));
                if !PROXY_ARGS.contains(&name) {
                    k.add(format!("arg:{name}"), value);
                }
            }
        }
        for (name, value) in self.inputs.build_args.proxies() {
            if self.args.get(&name).is_none() {
                env.push(format!("{name}={value}"));
            }
        }
        for (name, value) in self.env.pairs() {
            env.push(format!("{name}={value}"));
            k.add(format!("env:{name}"), value.clone());
        }
        let cwd = match self.config.text("WorkingDir") {
            w if w.is_empty() => "/".to_string(),
            w => w,
        };
        let user = self.config.text("User");
        let fallback = match (self.inputs.network_none, self.inputs.network_host) {
            (true, _) => Network::None,
            (false, true) => Network::Host,
            (false, false) => Network::Default,
        };
        let network = match run.network {
            Some(Network::Default) | None => fallback,
            Some(n) => n,
        };
        // A Dockerfile may not grant itself the host's network: the person
        // building must (BuildKit's network.host entitlement).
        let granted = self.inputs.network_host || self.inputs.allow_network_host;
        if run.network == Some(Network::Host) && !granted {
            return Err(err(
                line,
                "RUN --network=host is not allowed: the build must be started with \
                 --allow network.host (or --network host)",
            ));
        }
        k.add("workdir", cwd.clone());
        k.add("user", user.clone());
        k.add("network", format!("{network:?}"));
        let mounts = self.run_mounts(line, run, &cwd, stages, done, &mut k)?;
        let created_by = format!("RUN {}{} # buildkit", self.args_shown(), args.join(" "));
        let op = Op::Run(RunOp {
            args,
            env,
            cwd,
            user,
            network,
            script,
            mounts,
        });
        self.push_step(line, format!("RUN {shown}"), created_by, k, op);
        Ok(())
    }

    /// The ARGs a RUN's history entry starts with, as BuildKit's
    /// `runCommandString` writes them: `|2 A=1 B= `, each with the value
    /// the step sees.
    fn args_shown(&self) -> String {
        if self.declared_args.is_empty() {
            return String::new();
        }
        let vars = self.vars();
        let pairs: Vec<String> = self
            .declared_args
            .iter()
            .map(|(name, declared)| {
                let value = vars.lookup(name).unwrap_or(declared);
                format!("{name}={value}")
            })
            .collect();
        format!("|{} {} ", pairs.len(), pairs.join(" "))
    }

    /// The step's `--mount`s, resolved with its variables and WORKDIR.
    fn run_mounts(
        &self,
        line: usize,
        run: &Run,
        cwd: &str,
        stages: &[Stage],
        done: &Dispatched,
        k: &mut KeyBuilder,
    ) -> Result<Vec<RunMount>, BuildError> {
        let vars = self.vars();
        let expand = |w: &str| self.inputs.lexer.process_word(w, &vars);
        let stage_key = |i: usize| done.get(&i).map(|p| p.final_key.clone());
        let context_digests = |source: &str| {
            let (sel, digests) = (self.inputs.context)(source)?;
            let entries = sel.iter().flat_map(|x| x.entries.iter());
            Ok(entries
                .zip(digests)
                .map(|(e, d)| {
                    (
                        e.path.display().to_string(),
                        format!("{:o} {d}", e.stat.mode),
                    )
                })
                .collect())
        };
        let scope = mounts::MountScope {
            store: self.inputs.store,
            stages,
            stage_index: self.stage.index,
            stage_key: &stage_key,
            context_digests: &context_digests,
            expand: &expand,
            cwd,
            named_image: &|name| named_image(self.inputs, line, name).ok().flatten(),
        };
        run.mounts
            .iter()
            .enumerate()
            .map(|(n, m)| scope.resolve(m, n, k).map_err(|e| err(line, e)))
            .collect()
    }

    /// The command of a RUN: shell form through SHELL, exec form as is, and
    /// heredocs as BuildKit runs them (a lone heredoc with a shebang is a
    /// script file; otherwise the text goes to the shell).
    fn run_args(&self, run: &Run) -> (Vec<String>, Option<(String, String)>, String) {
        match &run.command {
            CommandLine::Exec(a) => (a.clone(), None, json!(a).to_string()),
            CommandLine::Shell(text) => {
                let mut script = None;
                let mut body = text.clone();
                if let [h] = run.heredocs.as_slice() {
                    let lone = text.trim() == format!("<<{}", h.name)
                        || text.trim() == format!("<<-{}", h.name)
                        || text.trim().starts_with("<<") && !text.trim().contains(' ');
                    if lone {
                        let content = h.body();
                        if content.starts_with("#!") {
                            script = Some((h.name.clone(), content.clone()));
                        }
                        body = content;
                    }
                }
                if script.is_none() && !run.heredocs.is_empty() && body == *text {
                    for h in &run.heredocs {
                        body.push('\n');
                        body.push_str(&h.body());
                        body.push_str(&h.name);
                    }
                }
                let args = match &script {
                    Some((name, _)) => vec![format!("/dev/pipes/{name}")],
                    None => self.shell.iter().cloned().chain([body]).collect(),
                };
                (args, script, text.clone())
            }
        }
    }
}
