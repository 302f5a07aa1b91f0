//! Parser directives (`# syntax=`, `# escape=`, `# check=`): read from the
//! top of the file only. The first line that is not a valid directive (an
//! instruction, a blank line, an ordinary comment, an unknown key) ends the
//! scan for good, as BuildKit's DirectiveParser does.

use crate::ast::{Directive, Directives};
use crate::error::ErrorKind;

use super::text;

/// The directive scanner's state while lines are read.
#[derive(Debug, Default)]
pub struct Scanner {
    done: bool,
    pub found: Directives,
}

impl Scanner {
    /// Looks at one line (line ending removed; the first line of an
    /// instruction also has leading whitespace removed). Returns the new
    /// escape character when the line sets it.
    pub fn feed(&mut self, line: &[u8], number: usize) -> Result<Option<u8>, ErrorKind> {
        if self.done {
            return Ok(None);
        }
        let Some((key, value)) = split_directive(line) else {
            self.done = true;
            return Ok(None);
        };
        let key = key.to_ascii_lowercase();
        let slot = match key.as_str() {
            "syntax" => &mut self.found.syntax,
            "escape" => &mut self.found.escape,
            "check" => &mut self.found.check,
            _ => {
                self.done = true;
                return Ok(None);
            }
        };
        if slot.is_some() {
            return Err(ErrorKind::DuplicateDirective(key));
        }
        let value = text::lossy(value);
        *slot = Some(Directive {
            value: value.clone(),
            line: number,
        });
        if key != "escape" {
            return Ok(None);
        }
        match value.as_str() {
            "\\" => Ok(Some(b'\\')),
            "`" => Ok(Some(b'`')),
            _ => Err(ErrorKind::InvalidEscape(value)),
        }
    }
}

/// `#`, Unicode spaces, a key (a letter, then letters or digits), `\s*=\s*`,
/// then a non-empty value with trailing `\s` removed (`\s` is RE2's
/// `[\t\n\f\r ]`).
fn split_directive(line: &[u8]) -> Option<(String, &[u8])> {
    let rest = text::trim_left_space(line.strip_prefix(b"#")?);
    let key_len = rest
        .iter()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.first()?.is_ascii_alphabetic() {
        return None;
    }
    let rest = trim_re_space_start(&rest[key_len..]).strip_prefix(b"=")?;
    let value = trim_re_space_end(trim_re_space_start(rest));
    if value.is_empty() {
        return None;
    }
    Some((String::from_utf8_lossy(key).into_owned(), value))
}

fn is_re_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn trim_re_space_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !is_re_space(*b))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn trim_re_space_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !is_re_space(*b))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_directives_case_insensitively_until_the_first_other_line() {
        let mut s = Scanner::default();
        assert_eq!(s.feed(b"#Syntax = x ", 1), Ok(None));
        assert_eq!(s.feed(b"# ESCAPE=`", 2), Ok(Some(b'`')));
        assert_eq!(s.feed(b"# hello", 3), Ok(None));
        assert_eq!(s.feed(b"# check=skip=all", 4), Ok(None));
        assert_eq!(s.found.syntax.as_ref().map(|d| d.value.as_str()), Some("x"));
        assert!(s.found.check.is_none());
    }

    #[test]
    fn rejects_a_repeated_directive_and_a_bad_escape() {
        let mut s = Scanner::default();
        s.feed(b"# syntax=a", 1).unwrap();
        assert!(matches!(
            s.feed(b"# syntax=b", 2),
            Err(ErrorKind::DuplicateDirective(_))
        ));
        let mut s = Scanner::default();
        assert!(matches!(
            s.feed(b"# escape=x", 1),
            Err(ErrorKind::InvalidEscape(_))
        ));
    }
}
