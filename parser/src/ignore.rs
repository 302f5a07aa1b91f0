//! `.dockerignore` matching with Docker's exact semantics (moby/patternmatcher
//! `ReadAll` + `New` + `MatchesUsingParentResults`, as BuildKit uses them).
//!
//! This is not gitignore: patterns are anchored at the context root, `!`
//! re-includes, the last matching pattern wins, a pattern matches a path when
//! it matches the path or any of its parent directories, and one file is
//! read, never nested ones.

mod clean;
mod goregex;
mod pattern;

use std::path::{Path, PathBuf};

use pattern::Compiled;

/// A bad ignore file, naming the file and the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("{file}:{line}: illegal exclusion pattern: \"!\"")]
    IllegalExclusion { file: String, line: usize },
    #[error("{file}:{line}: invalid pattern {pattern:?}: {reason}")]
    BadPattern {
        file: String,
        line: usize,
        pattern: String,
        reason: String,
    },
}

/// One pattern line of an ignore file, after `ReadAll`'s preprocessing.
#[derive(Debug, Clone)]
pub struct Pattern {
    line: usize,
    exception: bool,
    compiled: Compiled,
    text: String,
}

impl Pattern {
    /// 1-based line number in the ignore file.
    pub fn line(&self) -> usize {
        self.line
    }

    /// A `!` pattern, which re-includes what it matches.
    pub fn is_exception(&self) -> bool {
        self.exception
    }

    /// The cleaned pattern, without its `!`.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bang = if self.exception { "!" } else { "" };
        write!(f, "{bang}{}", self.text)
    }
}

/// The verdict on one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub excluded: bool,
    /// Index (into [`Matcher::patterns`]) of the pattern that decided: the
    /// last one that matched. `None` when no pattern matched.
    pub pattern: Option<usize>,
}

/// Which patterns matched a directory; handed down to its entries so a
/// walk tests each pattern against each path once (BuildKit's
/// `MatchesUsingParentResults`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentMatch {
    matched: Vec<bool>,
}

/// The compiled patterns of one ignore file.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    file: String,
    patterns: Vec<Pattern>,
}

/// `ReadAll`: the pattern lines of an ignore file, with their 1-based line
/// numbers. A BOM is dropped, lines starting with `#` are comments (before
/// any trimming), whitespace is trimmed, `!` is split off and trimmed
/// again, and the rest is cleaned with one leading `/` removed.
pub fn read_patterns(text: &str) -> Vec<(usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.starts_with('#') {
            continue;
        }
        let mut line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let bang = line.starts_with('!');
        if bang {
            line = line[1..].trim();
        }
        let mut pattern = String::new();
        if !line.is_empty() {
            let cleaned = clean::clean(line);
            pattern = match cleaned.strip_prefix('/') {
                Some(rest) if cleaned.len() > 1 => rest.to_string(),
                _ => cleaned,
            };
        }
        out.push((n + 1, if bang { format!("!{pattern}") } else { pattern }));
    }
    out
}

/// A path as the matcher expects it: cleaned, relative to the context root
/// (`./docs/`, `/docs` and `docs` are the same path).
pub fn normalize_path(path: &str) -> String {
    let cleaned = clean::clean(path);
    match cleaned.trim_start_matches('/') {
        "" => ".".to_string(),
        rest => rest.to_string(),
    }
}

/// BuildKit's Dockerfile-specific ignore file: `<Dockerfile>.dockerignore`
/// beside the Dockerfile, which takes precedence over `<context>/.dockerignore`
/// when it exists. The caller checks existence (this crate does no IO).
pub fn dockerfile_ignore_path(dockerfile: &Path) -> PathBuf {
    let mut name = dockerfile.file_name().unwrap_or_default().to_os_string();
    name.push(".dockerignore");
    dockerfile.with_file_name(name)
}

impl Matcher {
    /// Read an ignore file's text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Matcher, IgnoreError> {
        let lines = read_patterns(text);
        Matcher::from_lines(file, lines.iter().map(|(n, p)| (*n, p.as_str())))
    }

    /// Compile already-read pattern lines (`New`): each is trimmed and
    /// cleaned again and its syntax checked.
    pub fn from_lines<'a, I>(file: &str, lines: I) -> Result<Matcher, IgnoreError>
    where
        I: IntoIterator<Item = (usize, &'a str)>,
    {
        let mut patterns = Vec::new();
        for (line, raw) in lines {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let cleaned = clean::clean(raw);
            let (exception, text) = match cleaned.strip_prefix('!') {
                Some("") => {
                    return Err(IgnoreError::IllegalExclusion {
                        file: file.to_string(),
                        line,
                    })
                }
                Some(rest) => (true, rest),
                None => (false, cleaned.as_str()),
            };
            pattern::check_syntax(text).map_err(|reason| IgnoreError::BadPattern {
                file: file.to_string(),
                line,
                pattern: text.to_string(),
                reason,
            })?;
            patterns.push(Pattern {
                line,
                exception,
                compiled: Compiled::new(text),
                text: text.to_string(),
            });
        }
        Ok(Matcher {
            file: file.to_string(),
            patterns,
        })
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Decide one path (slash-separated, relative to the context root) by
    /// deciding each of its parent directories first, as a walk does. The
    /// context root itself (`.` or empty) is never excluded.
    pub fn matches(&self, path: &str) -> Result<Decision, IgnoreError> {
        if path.is_empty() || path == "." || self.patterns.is_empty() {
            return Ok(Decision {
                excluded: false,
                pattern: None,
            });
        }
        let parent = clean::dir(path);
        let mut info = None;
        if parent != "." {
            let parts: Vec<&str> = parent.split('/').collect();
            for i in 0..parts.len() {
                let (_, next) = self.evaluate(&parts[..=i].join("/"), info.as_ref())?;
                info = Some(next);
            }
        }
        self.evaluate(path, info.as_ref()).map(|(d, _)| d)
    }

    /// Decide `path` given its parent directory's result (`None` for a
    /// top-level entry, or when unknown: then parent directories are tested
    /// directly, as `MatchesOrParentMatches` does).
    pub fn evaluate(
        &self,
        path: &str,
        parent: Option<&ParentMatch>,
    ) -> Result<(Decision, ParentMatch), IgnoreError> {
        let mut matched = vec![false; self.patterns.len()];
        let mut decision = Decision {
            excluded: false,
            pattern: None,
        };
        for (i, p) in self.patterns.iter().enumerate() {
            let mut hit = parent.is_some_and(|m| m.matched.get(i) == Some(&true));
            if !hit {
                // Only a pattern that could change the verdict is tested.
                if p.exception != decision.excluded {
                    continue;
                }
                hit = self.test(p, path)?;
                if !hit && parent.is_none() {
                    hit = self.test_parents(p, path);
                }
            }
            matched[i] = hit;
            if hit {
                decision = Decision {
                    excluded: !p.exception,
                    pattern: Some(i),
                };
            }
        }
        Ok((decision, ParentMatch { matched }))
    }

    fn test(&self, p: &Pattern, path: &str) -> Result<bool, IgnoreError> {
        p.compiled
            .matches(path)
            .map_err(|reason| IgnoreError::BadPattern {
                file: self.file.clone(),
                line: p.line,
                pattern: p.text.clone(),
                reason,
            })
    }

    /// patternmatcher ignores errors when testing parent directories.
    fn test_parents(&self, p: &Pattern, path: &str) -> bool {
        let parent = clean::dir(path);
        if parent == "." {
            return false;
        }
        let parts: Vec<&str> = parent.split('/').collect();
        (0..parts.len()).any(|i| p.compiled.matches(&parts[..=i].join("/")) == Ok(true))
    }

    /// Could an exception re-include anything strictly below the excluded
    /// directory `dir`? When not, a walk can skip the whole directory
    /// (BuildKit's walker does the same with a coarser, prefix-only test).
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        let below = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exception)
            .any(|p| match p.compiled.literal_prefix() {
                None => p.text.starts_with(&below),
                Some(prefix) => prefix.starts_with(&below) || below.starts_with(prefix),
            })
    }
}

#[cfg(test)]
mod tests;
