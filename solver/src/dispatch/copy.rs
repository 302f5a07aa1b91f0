//! COPY and ADD: sources from the context, a stage, an image, a URL or a
//! git repository, the destination rules, and the step and key they become.

use super::*;

impl State<'_> {
    pub(super) fn copy(
        &mut self,
        line: usize,
        c: &Copy,
        add: bool,
        stages: &[Stage],
        done: &Dispatched,
    ) -> Result<(), BuildError> {
        let word = if add { "ADD" } else { "COPY" };
        let excludes = c
            .exclude
            .iter()
            .map(|p| self.word(line, p))
            .collect::<Result<Vec<_>, _>>()?;
        let exclude = copyflags::matcher(&excludes).map_err(|e| err(line, e))?;
        let heredoc_names: Vec<String> = c.heredocs.iter().map(|h| h.name.clone()).collect();
        let mut heredocs = Vec::new();
        let mut sources = Vec::new();
        for s in &c.sources {
            let is_heredoc = s.starts_with("<<")
                && heredoc_names.iter().any(|n| {
                    s.trim_start_matches("<<")
                        .trim_start_matches('-')
                        .trim_matches(['"', '\''])
                        == n
                });
            if is_heredoc {
                continue;
            }
            sources.push(self.word(line, s)?);
        }
        for h in &c.heredocs {
            let body = if h.expand {
                self.word(line, &h.body()).unwrap_or_else(|_| h.body())
            } else {
                h.body()
            };
            heredocs.push((h.name.clone(), body));
        }
        let fetched = add && sources.iter().any(|s| remote::is_remote(s));
        if fetched && (c.from.is_some() || !sources.iter().all(|s| remote::is_remote(s))) {
            return Err(err(
                line,
                "ADD of a URL or git source cannot mix with local or --from sources",
            ));
        }
        let dest_word = self.word(line, &c.dest)?;
        let workdir = match self.config.text("WorkingDir") {
            w if w.is_empty() => "/".to_string(),
            w => w,
        };
        let mut dest = absolute(&workdir, &dest_word);
        if (dest_word.ends_with('/') || dest_word == "." || dest_word.ends_with("/."))
            && !dest.ends_with('/')
        {
            dest.push('/');
        }
        let multi = sources.len() + heredocs.len() > 1;
        if multi && !dest.ends_with('/') {
            return Err(err(line, format!("When using {word} with more than one source file, the destination must be a directory and end with a /")));
        }
        let chown = c.chown.as_ref().map(|o| self.word(line, o)).transpose()?;
        let chmod = c.chmod.as_ref().map(|o| self.word(line, o)).transpose()?;
        let checksum = c
            .checksum
            .as_ref()
            .map(|o| self.word(line, o))
            .transpose()?;
        if checksum.is_some() && !fetched {
            return Err(err(line, "ADD --checksum needs an http(s) source"));
        }
        if let Some(m) = &chmod {
            crate::ops::mode::Chmod::parse(m).map_err(|e| err(line, e.to_string()))?;
        }
        // --link: the layer does not depend on what is below it, so its
        // key leaves the parent out (BuildKit: a rebase keeps it cached).
        let mut k = match c.link {
            true => KeyBuilder::new(&format!("{word} --link")),
            false => self.base_key(word),
        };
        k.add("dest", dest.clone());
        k.add("parents", c.parents.to_string());
        for p in &excludes {
            k.add("exclude", p.clone());
        }
        k.add("chown", chown.clone().unwrap_or_default());
        k.add("chmod", chmod.clone().unwrap_or_default());
        for (name, body) in &heredocs {
            k.add(format!("heredoc:{name}"), body.clone());
        }
        let from = match &c.from {
            None if fetched => {
                let downloads = crate::source::http::cache_dir(self.inputs.store.root());
                let items = remote::resolve(
                    &sources,
                    checksum.as_deref(),
                    c.keep_git_dir,
                    &downloads,
                    &mut k,
                )
                .map_err(|e| err(line, e))?;
                CopyFrom::Remote(items)
            }
            None => {
                let mut selected = Vec::new();
                for s in &sources {
                    let (sel, digests) =
                        (self.inputs.context)(s).map_err(|e| err(line, e.to_string()))?;
                    let (sel, digests) = match &exclude {
                        Some(m) => copyflags::exclude(m, sel, digests),
                        None => (sel, digests),
                    };
                    k.add("source", s.clone());
                    let entries = sel.iter().flat_map(|x| x.entries.iter());
                    let lists = crate::cachekey::files::dir(self.inputs.store.root());
                    crate::cachekey::files::add(&mut k, &lists, s, entries.zip(digests.iter()));
                    selected.extend(sel);
                }
                CopyFrom::Context(selected)
            }
            Some(f) => {
                let name = self.word(line, f)?;
                for s in &sources {
                    k.add("source", s.clone());
                }
                let named = named_image(self.inputs, line, &name)?;
                let is_named = named.is_some();
                let name = named.unwrap_or(name);
                match stage_ref(stages, self.stage.index, &name).filter(|_| !is_named) {
                    Some(i) => {
                        let p = done.get(&i).ok_or_else(|| {
                            err(line, format!("stage {name:?} was not dispatched"))
                        })?;
                        k.add("from-stage", p.final_key.clone());
                        CopyFrom::Stage(i)
                    }
                    None => {
                        let entry = self
                            .inputs
                            .store
                            .resolve_image(&name)
                            .map_err(|e| err(line, format!("--from={name}: {e}")))?;
                        k.add("from-image", entry.image.manifest.digest.to_string());
                        CopyFrom::Image(Box::new(entry))
                    }
                }
            }
        };
        let shown_sources: Vec<String> = c.sources.clone();
        let mut flags = String::new();
        if let Some(f) = &c.from {
            flags.push_str(&format!("--from={f} "));
        }
        if let Some(o) = &chown {
            flags.push_str(&format!("--chown={o} "));
        }
        if let Some(m) = &chmod {
            flags.push_str(&format!("--chmod={m} "));
        }
        for (on, flag) in [(c.link, "--link "), (c.parents, "--parents ")] {
            if on {
                flags.push_str(flag);
            }
        }
        for p in &excludes {
            flags.push_str(&format!("--exclude={p} "));
        }
        if let Some(sum) = &checksum {
            flags.push_str(&format!("--checksum={sum} "));
        }
        if c.keep_git_dir {
            flags.push_str("--keep-git-dir ");
        }
        let shown = format!("{word} {flags}{} {}", shown_sources.join(" "), c.dest);
        let created_by = format!(
            "{word} {flags}{} {} # buildkit",
            shown_sources.join(" "),
            dest_word
        );
        let op = Op::Copy(CopyOp {
            from,
            paths: sources,
            heredocs,
            dest,
            multi,
            chown,
            chmod,
            add,
            parents: c.parents,
            link: c.link,
            exclude: exclude.filter(|_| c.from.is_some()),
        });
        let parent = self.key.clone();
        self.push_step(line, shown, created_by, k, op);
        if c.link {
            // Later steps still follow the whole chain.
            let mut chain = KeyBuilder::new("link-chain");
            chain.add("parent", parent);
            chain.add("step", self.key.clone());
            self.key = chain.finish().0;
        }
        Ok(())
    }
}
