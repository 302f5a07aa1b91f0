//! COPY and ADD: sources from the context, a stage, an image, a URL or a
//! git repository, the destination rules, and the step and key they become.

use kiln_parser::ast::Heredoc;
use kiln_parser::ignore::Matcher;

use super::*;

/// A COPY or ADD with its words expanded and checked.
struct Words {
    /// The sources to copy, heredoc sources left out.
    sources: Vec<String>,
    /// `(name, body)` of each heredoc source.
    heredocs: Vec<(String, String)>,
    excludes: Vec<String>,
    exclude: Option<Matcher>,
    /// ADD of URLs or git repositories: fetched, not read locally.
    fetched: bool,
    /// The destination as written, expanded.
    dest_word: String,
    /// Absolute; a trailing `/` when it names a directory.
    dest: String,
    chown: Option<String>,
    chmod: Option<String>,
    checksum: Option<String>,
}

impl Words {
    /// More than one source: the destination must be a directory.
    fn multi(&self) -> bool {
        self.sources.len() + self.heredocs.len() > 1
    }
}

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
        let w = self.copy_words(line, c, add)?;
        check(line, word, &w)?;
        let mut k = copy_key(self, word, c, &w);
        let from = match &c.from {
            None if w.fetched => self.remote_source(line, c, &w, &mut k)?,
            None => self.context_source(line, &w, &mut k)?,
            Some(f) => self.other_source(line, f, &w.sources, stages, done, &mut k)?,
        };
        let flags = shown_flags(c, &w);
        let sources = c.sources.join(" ");
        let shown = format!("{word} {flags}{sources} {}", c.dest);
        let created_by = format!("{word} {flags}{sources} {} # buildkit", w.dest_word);
        let op = Op::Copy(CopyOp {
            from,
            multi: w.multi(),
            paths: w.sources,
            heredocs: w.heredocs,
            dest: w.dest,
            chown: w.chown,
            chmod: w.chmod,
            add,
            parents: c.parents,
            link: c.link,
            exclude: w.exclude.filter(|_| c.from.is_some()),
        });
        self.push_copy(line, shown, created_by, k, op, c.link);
        Ok(())
    }

    /// Every word of `c` expanded, in the order BuildKit reads them.
    fn copy_words(&self, line: usize, c: &Copy, add: bool) -> Result<Words, BuildError> {
        let excludes = self.words(line, &c.exclude)?;
        let exclude = copyflags::matcher(&excludes).map_err(|e| err(line, e))?;
        let sources = self.words(
            line,
            c.sources.iter().filter(|s| !is_heredoc(s, &c.heredocs)),
        )?;
        let heredocs = c.heredocs.iter().map(|h| self.heredoc(line, h)).collect();
        let fetched = add && sources.iter().any(|s| remote::is_remote(s));
        if fetched && (c.from.is_some() || !sources.iter().all(|s| remote::is_remote(s))) {
            return Err(err(
                line,
                "ADD of a URL or git source cannot mix with local or --from sources",
            ));
        }
        let dest_word = self.word(line, &c.dest)?;
        let dest = destination(&self.config.text("WorkingDir"), &dest_word);
        Ok(Words {
            sources,
            heredocs,
            excludes,
            exclude,
            fetched,
            dest_word,
            dest,
            chown: self.optional_word(line, &c.chown)?,
            chmod: self.optional_word(line, &c.chmod)?,
            checksum: self.optional_word(line, &c.checksum)?,
        })
    }

    fn words<'w>(
        &self,
        line: usize,
        words: impl IntoIterator<Item = &'w String>,
    ) -> Result<Vec<String>, BuildError> {
        words.into_iter().map(|w| self.word(line, w)).collect()
    }

    fn optional_word(&self, line: usize, w: &Option<String>) -> Result<Option<String>, BuildError> {
        w.as_ref().map(|w| self.word(line, w)).transpose()
    }

    /// A heredoc's name and body; an expanding one that does not expand
    /// is copied as written.
    fn heredoc(&self, line: usize, h: &Heredoc) -> (String, String) {
        let body = match h.expand {
            true => self.word(line, &h.body()).unwrap_or_else(|_| h.body()),
            false => h.body(),
        };
        (h.name.clone(), body)
    }

    /// `ADD URL…` or `ADD git…`: resolved now (a URL's digest or checksum,
    /// a ref's commit) so the key holds what will be fetched.
    fn remote_source(
        &self,
        line: usize,
        c: &Copy,
        w: &Words,
        k: &mut KeyBuilder,
    ) -> Result<CopyFrom, BuildError> {
        let downloads = crate::source::http::cache_dir(self.inputs.store.root());
        let checksum = w.checksum.as_deref();
        let items = remote::resolve(&w.sources, checksum, c.keep_git_dir, &downloads, k)
            .map_err(|e| err(line, e))?;
        Ok(CopyFrom::Remote(items))
    }

    /// Sources selected in the build context, `--exclude` applied; each
    /// file enters the key by path, mode and content digest.
    fn context_source(
        &self,
        line: usize,
        w: &Words,
        k: &mut KeyBuilder,
    ) -> Result<CopyFrom, BuildError> {
        let lists = crate::cachekey::files::dir(self.inputs.store.root());
        let mut selected = Vec::new();
        for s in &w.sources {
            let (sel, digests) = (self.inputs.context)(s).map_err(|e| err(line, e))?;
            let (sel, digests) = match &w.exclude {
                Some(m) => copyflags::exclude(m, sel, digests),
                None => (sel, digests),
            };
            k.add("source", s.clone());
            let entries = sel.iter().flat_map(|x| x.entries.iter().map(|e| &**e));
            crate::cachekey::files::add(k, &lists, s, entries.zip(digests.iter()));
            selected.extend(sel);
        }
        Ok(CopyFrom::Context(selected))
    }

    /// `--from=NAME`: a `--build-context` image, an earlier stage (keyed
    /// by its final key), or an image by reference (keyed by its manifest).
    fn other_source(
        &self,
        line: usize,
        from: &str,
        sources: &[String],
        stages: &[Stage],
        done: &Dispatched,
        k: &mut KeyBuilder,
    ) -> Result<CopyFrom, BuildError> {
        let name = self.word(line, from)?;
        for s in sources {
            k.add("source", s.clone());
        }
        let named = named_image(self.inputs, line, &name)?;
        let is_named = named.is_some();
        let name = named.unwrap_or(name);
        if let Some(i) = stage_ref(stages, self.stage.index, &name).filter(|_| !is_named) {
            let p = done
                .get(&i)
                .ok_or_else(|| err(line, format!("stage {name:?} was not dispatched")))?;
            k.add("from-stage", p.final_key.clone());
            return Ok(CopyFrom::Stage(i));
        }
        let entry = self
            .inputs
            .store
            .resolve_image(&name)
            .map_err(|e| err(line, format!("--from={name}: {e}")))?;
        k.add("from-image", entry.image.manifest.digest.to_string());
        Ok(CopyFrom::Image(Box::new(entry)))
    }

    /// The step, and with `--link` the key later steps chain from: the
    /// layer's own key leaves the parent out, the chain keeps it.
    fn push_copy(
        &mut self,
        line: usize,
        shown: String,
        created_by: String,
        k: KeyBuilder,
        op: Op,
        link: bool,
    ) {
        let parent = self.key.clone();
        self.push_step(line, shown, created_by, k, op);
        if link {
            let mut chain = KeyBuilder::new("link-chain");
            chain.add("parent", parent);
            chain.add("step", self.key.clone());
            self.key = chain.finish().0;
        }
    }
}

/// Whether the source word `s` is one of `heredocs` (`<<EOF`, `<<-"EOF"`).
fn is_heredoc(s: &str, heredocs: &[Heredoc]) -> bool {
    if !s.starts_with("<<") {
        return false;
    }
    let name = s.trim_start_matches("<<").trim_start_matches('-');
    let name = name.trim_matches(['"', '\'']);
    heredocs.iter().any(|h| h.name == name)
}

/// The absolute destination of `dest` under the stage's WORKDIR; a
/// trailing `/` (or `.`) keeps it a directory.
fn destination(workdir: &str, dest: &str) -> String {
    let workdir = if workdir.is_empty() { "/" } else { workdir };
    let mut out = absolute(workdir, dest);
    let is_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
    if is_dir && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The rules BuildKit checks once the words are known.
fn check(line: usize, word: &str, w: &Words) -> Result<(), BuildError> {
    if w.multi() && !w.dest.ends_with('/') {
        return Err(err(line, format!("When using {word} with more than one source file, the destination must be a directory and end with a /")));
    }
    if w.checksum.is_some() && !w.fetched {
        return Err(err(line, "ADD --checksum needs an http(s) source"));
    }
    if let Some(m) = &w.chmod {
        crate::ops::mode::Chmod::parse(m).map_err(|e| err(line, e))?;
    }
    Ok(())
}

/// The key's ingredients that do not depend on where sources come from.
/// `--link`: the layer does not depend on what is below it, so its key
/// leaves the parent out (BuildKit: a rebase keeps it cached).
fn copy_key(state: &State<'_>, word: &str, c: &Copy, w: &Words) -> KeyBuilder {
    let mut k = match c.link {
        true => KeyBuilder::new(&format!("{word} --link")),
        false => state.base_key(word),
    };
    k.add("dest", w.dest.clone());
    k.add("parents", c.parents.to_string());
    for p in &w.excludes {
        k.add("exclude", p.clone());
    }
    k.add("chown", w.chown.clone().unwrap_or_default());
    k.add("chmod", w.chmod.clone().unwrap_or_default());
    for (name, body) in &w.heredocs {
        k.add(format!("heredoc:{name}"), body.clone());
    }
    k
}

/// The flags as the step's name and history show them, each followed by
/// a space.
fn shown_flags(c: &Copy, w: &Words) -> String {
    let mut flags = Vec::new();
    flags.extend(c.from.as_ref().map(|f| format!("--from={f}")));
    flags.extend(w.chown.as_ref().map(|o| format!("--chown={o}")));
    flags.extend(w.chmod.as_ref().map(|m| format!("--chmod={m}")));
    for (on, flag) in [(c.link, "--link"), (c.parents, "--parents")] {
        if on {
            flags.push(flag.to_string());
        }
    }
    flags.extend(w.excludes.iter().map(|p| format!("--exclude={p}")));
    flags.extend(w.checksum.as_ref().map(|s| format!("--checksum={s}")));
    if c.keep_git_dir {
        flags.push("--keep-git-dir".into());
    }
    flags.iter().map(|f| format!("{f} ")).collect()
}

#[cfg(test)]
#[path = "copy_tests.rs"]
mod tests;
