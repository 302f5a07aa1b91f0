//! The lexer's state machine: one pass over a word's characters that builds
//! the joined value and the split words side by side, as BuildKit does, so
//! the two forms always agree on quoting.

use std::collections::BTreeSet;

use super::pattern;
use super::{Env, ExpandError, Expansion};

pub(super) struct Shell<'a, E: Env + ?Sized> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: &'a E,
    used: BTreeSet<String>,
    unset: BTreeSet<String>,
    defaulted: BTreeSet<String>,
}

/// The split-words view, built one character at a time. A word starts with
/// any non-space character or any quoted text (even empty), and ends at
/// unquoted whitespace; an empty word is never emitted (`""` alone gives no
/// word), as in BuildKit.
#[derive(Default)]
struct Words {
    current: String,
    done: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if !ch.is_whitespace() {
            self.add_raw_char(ch);
        } else if self.in_word && !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
            self.in_word = false;
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.current.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

type Scanned = (String, Vec<String>);

impl<'a, E: Env + ?Sized> Shell<'a, E> {
    pub(super) fn new(word: &str, escape: char, env: &'a E) -> Self {
        Shell {
            chars: word.chars().collect(),
            pos: 0,
            escape,
            env,
            used: BTreeSet::new(),
            unset: BTreeSet::new(),
            defaulted: BTreeSet::new(),
        }
    }

    pub(super) fn run(mut self) -> Result<Expansion, ExpandError> {
        let (value, words) = self.scan_until(None, false)?;
        Ok(Expansion {
            value,
            words,
            used: self.used,
            unset: self.unset,
            defaulted: self.defaulted,
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Scan until `stop` (consumed) or the end. With `raw_escapes` the
    /// escape character is kept in the output, as BuildKit does for the
    /// patterns of `${V#p}`, `${V%p}` and `${V/p/r}`.
    fn scan_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<Scanned, ExpandError> {
        let mut value = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((value, words.finish()));
            }
            match ch {
                '$' => {
                    let text = self.dollar()?;
                    words.add_str(&text);
                    value.push_str(&text);
                }
                '\'' | '"' => {
                    let text = if ch == '\'' {
                        self.single_quoted()?
                    } else {
                        self.double_quoted(raw_escapes)?
                    };
                    words.add_raw_str(&text);
                    value.push_str(&text);
                }
                _ => {
                    self.pos += 1;
                    if ch != self.escape {
                        words.add_char(ch);
                        value.push(ch);
                        continue;
                    }
                    if raw_escapes {
                        words.add_raw_char(ch);
                        value.push(ch);
                    }
                    // A trailing escape character is dropped.
                    let Some(next) = self.bump() else { break };
                    words.add_raw_char(next);
                    value.push(next);
                }
            }
        }
        match stop {
            Some(c) => Err(ExpandError::UnexpectedEnd(c)),
            None => Ok((value, words.finish())),
        }
    }

    /// Everything up to the closing `'` is literal; `'` cannot be escaped.
    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(ExpandError::UnclosedSingleQuote),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    /// Inside `"…"` only `$` expands, and the escape character escapes only
    /// `"`, `$` and itself; before anything else it stays literal.
    fn double_quoted(&mut self, raw_escapes: bool) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnclosedDoubleQuote),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(mut c) => {
                    self.pos += 1;
                    if c == self.escape {
                        if raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `$NAME`, `${NAME}` and the `${NAME<op>word}` forms.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        match self.bump() {
            Some('}') => Ok(self.lookup(&name).unwrap_or_default()),
            Some(':') => {
                let op = self.bump();
                let mut shown = String::from(":");
                shown.extend(op);
                self.modifier(&name, op, true, shown)
            }
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => {
                self.modifier(&name, Some(op), false, op.to_string())
            }
            Some('/') => self.replace(&name),
            Some(other) => Err(ExpandError::UnsupportedModifier(other.to_string())),
            None => Err(ExpandError::MissingBrace),
        }
    }

    /// The operand of `${NAME<op>…}` up to the closing `}`.
    fn operand(
        &mut self,
        stop: char,
        raw: bool,
        missing: ExpandError,
    ) -> Result<String, ExpandError> {
        match self.scan_until(Some(stop), raw) {
            Ok((value, _)) => Ok(value),
            Err(_) if self.peek().is_none() => Err(missing),
            Err(e) => Err(e),
        }
    }

    /// `-`, `+`, `?` (with `:` when an empty value counts as unset), and
    /// the prefix/suffix trims `#`, `##`, `%`, `%%`.
    fn modifier(
        &mut self,
        name: &str,
        op: Option<char>,
        null_is_unset: bool,
        shown: String,
    ) -> Result<String, ExpandError> {
        let trim = matches!(op, Some('#' | '%'));
        if null_is_unset && trim {
            return Err(ExpandError::UnsupportedModifier(shown));
        }
        let word = self.operand('}', trim, ExpandError::MissingBrace)?;
        let guarded = matches!(op, Some('-' | '+' | '?'));
        let value = self.lookup_as(name, guarded);
        let absent = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            Some('-') if absent => Ok(word),
            Some('-') => Ok(value.unwrap_or_default()),
            Some('+') if absent => Ok(String::new()),
            Some('+') => Ok(word),
            Some('?') if absent => Err(required(name, word, value.is_none())),
            Some('?') => Ok(value.unwrap_or_default()),
            Some(c @ ('#' | '%')) => {
                let (greedy, pat) = match word.strip_prefix(c) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let value = value.unwrap_or_default();
                if c == '#' {
                    pattern::trim_prefix(pat, &value, greedy)
                } else {
                    pattern::trim_suffix(pat, &value, greedy)
                }
            }
            _ => Err(ExpandError::UnsupportedModifier(shown)),
        }
    }

    /// `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`.
    fn replace(&mut self, name: &str) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pat = self.operand('/', true, ExpandError::MissingSlash)?;
        let replacement = self.operand('}', true, ExpandError::MissingBrace)?;
        let value = self.lookup(name).unwrap_or_default();
        pattern::replace(&pat, &replacement, &value, all)
    }

    /// A variable name: letters, digits and `_`; or a run of digits (a
    /// positional parameter); or one special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch.is_alphanumeric() || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        self.lookup_as(name, false)
    }

    /// Look `name` up and note it as used, unset, or (when the form says
    /// what to do if it is absent) defaulted.
    fn lookup_as(&mut self, name: &str, guarded: bool) -> Option<String> {
        let found = self.env.lookup(name).map(str::to_string);
        if is_variable_name(name) {
            let set = match (found.is_some(), guarded) {
                (true, _) => &mut self.used,
                (false, false) => &mut self.unset,
                (false, true) => &mut self.defaulted,
            };
            set.insert(name.to_string());
        }
        found
    }
}

fn required(name: &str, word: String, unset: bool) -> ExpandError {
    let message = match (word.is_empty(), unset) {
        (false, _) => word,
        (true, true) => "is not allowed to be unset".to_string(),
        (true, false) => "is not allowed to be empty".to_string(),
    };
    ExpandError::Required {
        name: name.to_string(),
        message,
    }
}

/// POSIX special parameters: never set in a Dockerfile, so they expand to
/// nothing (BuildKit treats them as names that are never found).
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

fn is_variable_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}
