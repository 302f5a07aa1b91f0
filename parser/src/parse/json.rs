//! The JSON form of an instruction (`["a", "b"]`), decoded as Go's
//! encoding/json does into `[]any`: any valid JSON text whose top value is an
//! array. The grammar gives the tokens; the structure is checked here with an
//! explicit stack (Go gives up beyond 10000 levels of nesting).

use super::grammar::{inner, Rule};
use super::text;

/// What the text turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Json {
    /// Not a JSON array (the text is then used as written).
    NotArray,
    /// An array of strings.
    Strings(Vec<String>),
    /// A valid array with an element that is not a string (an error).
    NotStrings,
}

const MAX_DEPTH: usize = 10000;

/// Decodes `args` (already left-trimmed of Unicode whitespace by the caller
/// or not: it is trimmed here too).
pub fn decode(args: &[u8]) -> Json {
    let args = text::trim_left_space(args);
    if !args.starts_with(b"[") {
        return Json::NotArray;
    }
    let repr = text::to_repr(args);
    let Some(tokens) = inner(Rule::json_tokens, &repr) else {
        return Json::NotArray;
    };
    let mut checker = Checker::default();
    for token in tokens {
        if token.as_rule() == Rule::EOI {
            break;
        }
        if !checker.step(token) {
            return Json::NotArray;
        }
    }
    match (checker.done, checker.all_strings) {
        (true, true) => Json::Strings(checker.strings),
        (true, false) => Json::NotStrings,
        _ => Json::NotArray,
    }
}

/// What the structure allows next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Expect {
    /// A value (or, right after `[`, a `]`).
    #[default]
    Value,
    ValueOrClose,
    /// `,` or the container's closing bracket.
    CommaOrClose,
    /// An object key (or, right after `{`, a `}`).
    KeyOrClose,
    Key,
    Colon,
}

#[derive(Debug, Default)]
struct Checker {
    /// Open containers: true for an object.
    stack: Vec<bool>,
    expect: Expect,
    started: bool,
    done: bool,
    all_strings: bool,
    strings: Vec<String>,
}

impl Checker {
    /// Takes one token; false when the text is not valid JSON.
    fn step(&mut self, token: pest::iterators::Pair<'_, Rule>) -> bool {
        if self.done {
            return false;
        }
        if !self.started {
            self.started = true;
            self.all_strings = true;
            if token.as_rule() != Rule::json_open_array {
                return false;
            }
            self.stack.push(false);
            self.expect = Expect::ValueOrClose;
            return true;
        }
        match token.as_rule() {
            Rule::json_open_array | Rule::json_open_object => self.open(token.as_rule()),
            Rule::json_close_array => self.close(false),
            Rule::json_close_object => self.close(true),
            Rule::json_comma => self.comma(),
            Rule::json_colon => self.colon(),
            Rule::json_string => self.string(token),
            Rule::json_number => {
                // Go decodes numbers as float64; one that overflows is an
                // error of the decode, not a non-string element.
                let finite = token.as_str().parse::<f64>().is_ok_and(f64::is_finite);
                finite && self.scalar()
            }
            _ => self.scalar(),
        }
    }

    fn value_allowed(&self) -> bool {
        matches!(self.expect, Expect::Value | Expect::ValueOrClose)
    }

    fn after_value(&mut self) {
        self.expect = Expect::CommaOrClose;
    }

    fn open(&mut self, rule: Rule) -> bool {
        if !self.value_allowed() || self.stack.len() >= MAX_DEPTH {
            return false;
        }
        self.note_element(false);
        let object = rule == Rule::json_open_object;
        self.stack.push(object);
        self.expect = if object {
            Expect::KeyOrClose
        } else {
            Expect::ValueOrClose
        };
        true
    }

    fn close(&mut self, object: bool) -> bool {
        let ok = match self.expect {
            Expect::CommaOrClose => true,
            Expect::ValueOrClose => !object,
            Expect::KeyOrClose => object,
            _ => false,
        };
        if !ok || self.stack.pop() != Some(object) {
            return false;
        }
        if self.stack.is_empty() {
            self.done = true;
        }
        self.after_value();
        true
    }

    fn comma(&mut self) -> bool {
        if self.expect != Expect::CommaOrClose {
            return false;
        }
        self.expect = if self.stack.last() == Some(&true) {
            Expect::Key
        } else {
            Expect::Value
        };
        true
    }

    fn colon(&mut self) -> bool {
        if self.expect != Expect::Colon {
            return false;
        }
        self.expect = Expect::Value;
        true
    }

    fn string(&mut self, token: pest::iterators::Pair<'_, Rule>) -> bool {
        if matches!(self.expect, Expect::Key | Expect::KeyOrClose) {
            self.expect = Expect::Colon;
            return true;
        }
        if !self.value_allowed() {
            return false;
        }
        if self.stack.len() == 1 {
            self.strings.push(unquote(token));
        }
        self.after_value();
        true
    }

    fn scalar(&mut self) -> bool {
        if !self.value_allowed() {
            return false;
        }
        self.note_element(false);
        self.after_value();
        true
    }

    /// Records whether a top-level element is a string.
    fn note_element(&mut self, is_string: bool) {
        if self.stack.len() == 1 && !is_string {
            self.all_strings = false;
        }
    }
}

/// The text of a JSON string token. Invalid UTF-8 and lone surrogates
/// become U+FFFD, as in Go.
fn unquote(token: pest::iterators::Pair<'_, Rule>) -> String {
    let mut out = String::new();
    let mut pending_high: Option<u32> = None;
    for part in token.into_inner() {
        let unit = match part.as_rule() {
            Rule::json_unicode => {
                let hex = part.as_str().get(2..).unwrap_or_default();
                u32::from_str_radix(hex, 16).ok()
            }
            _ => None,
        };
        if let Some(high) = pending_high.take() {
            match unit {
                Some(low @ 0xDC00..=0xDFFF) => {
                    let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                    continue;
                }
                _ => out.push(char::REPLACEMENT_CHARACTER),
            }
        }
        match (part.as_rule(), unit) {
            (_, Some(u @ 0xD800..=0xDBFF)) => pending_high = Some(u),
            (_, Some(u)) => out.push(char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER)),
            (Rule::json_escape, _) => out.push(match part.as_str().as_bytes().get(1) {
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b) => char::from(*b),
                None => char::REPLACEMENT_CHARACTER,
            }),
            _ => out.push_str(&text::lossy(&text::from_repr(part.as_str()))),
        }
    }
    if pending_high.is_some() {
        out.push(char::REPLACEMENT_CHARACTER);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Json {
        Json::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn decodes_arrays_of_strings_with_escapes() {
        assert_eq!(decode(br#" [ "a", "b c" ] "#), strings(&["a", "b c"]));
        assert_eq!(
            decode(br#"["\" \\ \/ \b \f \n \r \t \u0000", "\ud83d\ude00"]"#),
            strings(&["\" \\ / \u{8} \u{c} \n \r \t \u{0}", "😀"])
        );
        assert_eq!(decode(b"[]"), strings(&[]));
        assert_eq!(decode(br#"["\ud800x"]"#), strings(&["\u{fffd}x"]));
    }

    #[test]
    fn tells_non_strings_from_invalid_json() {
        assert_eq!(decode(br#"["a", 1]"#), Json::NotStrings);
        assert_eq!(decode(br#"["a", {"k": [1, 2]}]"#), Json::NotStrings);
        assert_eq!(decode(br#"["a", 1e400]"#), Json::NotArray);
        assert_eq!(decode(br#"["a", ]"#), Json::NotArray);
        assert_eq!(decode(br#"["a"] x"#), Json::NotArray);
        assert_eq!(decode(br#"["a""#), Json::NotArray);
        assert_eq!(decode(b"[\"a\tb\"]"), Json::NotArray);
        let deep = "[".repeat(20000) + &"]".repeat(20000);
        assert_eq!(decode(deep.as_bytes()), Json::NotArray);
    }
}
