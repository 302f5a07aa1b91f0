//! Heredoc openers on an instruction line (`<<EOF`, `<<-'EOF'`, `3<<EOF`).
//!
//! BuildKit finds them by splitting the logical line into shell words with
//! its shell lexer (escape `\`, quotes kept, unset variables kept as
//! written), then matching each word against `[fd]<<[-]NAME`; the NAME is
//! lexed again to remove quotes and to tell whether any part was quoted (no
//! expansion then). [`Lexer`] reproduces that word splitting, including its
//! quirks (a `${…}` modifier restarts the word being built).

use crate::ast::Heredoc;

use super::grammar::{inner, Rule};
use super::text;

/// The heredocs opened on `line`, in order. A line that cannot be lexed
/// opens none; a NAME that cannot be lexed is an error (its message).
pub fn from_line(line: &[u8]) -> Result<Vec<Heredoc>, String> {
    let Ok(words) = Lexer::new(&text::lossy(line), true, true).words() else {
        return Ok(Vec::new());
    };
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_word(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// One word as a heredoc opener, if it is one.
pub fn parse_word(word: &str) -> Result<Option<Heredoc>, String> {
    let Some(pairs) = inner(Rule::heredoc_word, word) else {
        return Ok(None);
    };
    let (mut fd, mut chomp, mut name) = (0, false, "");
    for pair in pairs {
        match pair.as_rule() {
            // An fd too large for the platform reads as 0, as in BuildKit.
            Rule::heredoc_fd => fd = pair.as_str().parse().unwrap_or(0),
            Rule::heredoc_chomp => chomp = true,
            Rule::heredoc_name => name = pair.as_str(),
            _ => {}
        }
    }
    if name.is_empty() {
        return Ok(None);
    }
    let words = Lexer::new(name, false, false).words()?;
    let [word] = words.as_slice() else {
        return Ok(None);
    };
    let raw = Lexer::new(name, true, false).words()?;
    let [raw_word] = raw.as_slice() else {
        return Err(format!("inconsistent lexing of heredoc name {name}"));
    };
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    Ok(Some(Heredoc {
        name: word.clone(),
        content: String::new(),
        expand: quotes(word) == quotes(raw_word),
        chomp,
        fd,
    }))
}

/// BuildKit's shell word splitter, with an empty environment in which every
/// variable is unset and kept as written.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
    /// The word being built. It is shared by nested `${…}` scans, which
    /// start by clearing it: BuildKit's lexer does the same.
    buf: String,
}

/// The words found so far by one scan.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    in_word: bool,
}

type Lexed<T> = Result<T, String>;

impl Lexer {
    fn new(input: &str, raw_quotes: bool, raw_escapes: bool) -> Lexer {
        Lexer {
            chars: input.chars().collect(),
            pos: 0,
            raw_quotes,
            raw_escapes,
            buf: String::new(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn words(mut self) -> Lexed<Vec<String>> {
        let raw_escapes = self.raw_escapes;
        self.scan(None, raw_escapes).map(|(_, words)| words)
    }

    fn add_char(&mut self, words: &mut Words, c: char) {
        if text::is_space(c) {
            if words.in_word && !self.buf.is_empty() {
                words.words.push(std::mem::take(&mut self.buf));
                words.in_word = false;
            }
        } else {
            self.add_raw(words, c);
        }
    }

    fn add_raw(&mut self, words: &mut Words, c: char) {
        self.buf.push(c);
        words.in_word = true;
    }

    fn finish(&mut self, mut words: Words) -> Vec<String> {
        if !self.buf.is_empty() {
            words.words.push(std::mem::take(&mut self.buf));
        }
        words.words
    }

    /// Scans to the end, or to `stop` (consumed). Returns the text and the
    /// words.
    fn scan(&mut self, stop: Option<char>, raw_escapes: bool) -> Lexed<(String, Vec<String>)> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.scan_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn scan_inner(&mut self, stop: Option<char>) -> Lexed<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        self.buf.clear();
        while let Some(c) = self.peek() {
            if stop == Some(c) {
                self.pos += 1;
                return Ok((result, self.finish(words)));
            }
            let special = match c {
                '$' => Some(self.dollar()?),
                '<' => Some(self.angle()),
                '\'' => Some(self.single_quoted()?),
                '"' => Some(self.double_quoted()?),
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                if c == '$' {
                    tmp.chars().for_each(|ch| self.add_char(&mut words, ch));
                } else {
                    self.buf.push_str(&tmp);
                    words.in_word = true;
                }
                continue;
            }
            self.pos += 1;
            if c != '\\' {
                self.add_char(&mut words, c);
                result.push(c);
                continue;
            }
            if self.raw_escapes {
                self.add_raw(&mut words, c);
                result.push(c);
            }
            let Some(escaped) = self.next() else { break };
            self.add_raw(&mut words, escaped);
            result.push(escaped);
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, self.finish(words)))
    }

    fn single_quoted(&mut self) -> Lexed<String> {
        let mut out = String::new();
        self.pos += 1;
        if self.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => return Err("unterminated single quote".into()),
                Some('\'') => {
                    if self.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Lexed<String> {
        let mut out = String::new();
        self.pos += 1;
        if self.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => return Err("unterminated double quote".into()),
                Some('"') => {
                    self.pos += 1;
                    if self.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    let mut c = c;
                    if c == '\\' {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n @ ('"' | '$' | '\\')) => {
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

    /// `<` alone, or `<<` with the blanks after it (kept in the word, so
    /// that `<< EOF` stays one word).
    fn angle(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut out = String::from("<<");
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    /// `$NAME`, `${NAME}`, `${NAME<op>WORD}`, `${NAME/PAT/REP}`: all unset,
    /// so each is given back as written (a `//` loses one `/`).
    fn dollar(&mut self) -> Lexed<String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(format!("${name}"));
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        match self.next() {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':') => {
                let op = self.next().unwrap_or(char::REPLACEMENT_CHARACTER);
                if matches!(op, '#' | '%') {
                    return Err(format!("unsupported modifier (:{op}) in substitution"));
                }
                let (word, _) = self.scan(Some('}'), false)?;
                Ok(format!("${{{name}:{op}{word}}}"))
            }
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => {
                let (word, _) = self.scan(Some('}'), matches!(op, '#' | '%'))?;
                Ok(format!("${{{name}{op}{word}}}"))
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.pos += 1;
                }
                let (pattern, _) = self.scan(Some('/'), true)?;
                let (replacement, _) = self.scan(Some('}'), true)?;
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            _ => Err("unsupported modifier in substitution".into()),
        }
    }

    /// A variable name: digits, or one special parameter, or letters,
    /// digits and `_`.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<String> {
        from_line(line.as_bytes())
            .unwrap()
            .into_iter()
            .map(|h| h.name)
            .collect()
    }

    #[test]
    fn finds_heredocs_on_a_line() {
        assert_eq!(names("RUN <<EOF <<EOF2"), vec!["EOF", "EOF2"]);
        assert_eq!(names("RUN << -EOF"), vec!["-EOF"]);
        assert_eq!(names("RUN <<  EOF  > foo"), vec!["EOF"]);
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names("RUN <<'EOF").is_empty());
    }

    #[test]
    fn quoting_any_part_of_the_name_turns_expansion_off() {
        let doc = |w: &str| parse_word(w).unwrap().unwrap();
        assert!(!doc("<<eo'f'").expand);
        assert_eq!(doc("<<eo'f'").name, "eof");
        assert!(doc(r"<<eo\'f").expand);
        assert!(!doc(r"<<'e'o\'f").expand);
        assert_eq!(doc("3<<-X").fd, 3);
        assert!(parse_word("<<'EOF").is_err());
        assert_eq!(parse_word("<<EOF sh"), Ok(None));
    }
}
