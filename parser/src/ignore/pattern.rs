//! One compiled .dockerignore pattern, with moby/patternmatcher's four ways
//! of matching: exact text, a `X**` prefix, a `**X` suffix, or a regular
//! expression.

use pest::Parser;
use regex::Regex;

use super::goregex;

#[derive(pest_derive::Parser)]
#[grammar = "ignore/dockerignore.pest"]
struct PatternSyntax;

/// Check a pattern the way Go's `filepath.Match(pattern, ".")` does.
pub(crate) fn check_syntax(pattern: &str) -> Result<(), String> {
    PatternSyntax::parse(Rule::pattern, pattern)
        .map(|_| ())
        .map_err(|_| "syntax error in pattern".to_string())
}

#[derive(Debug, Clone)]
enum Kind {
    Exact,
    /// `X**`: anything that starts with `X`.
    Prefix(String),
    /// `**X`: anything that ends with `X` (and `X` without its `/`).
    Suffix(String),
    /// Compiled lazily by patternmatcher; a pattern whose expression does
    /// not compile fails every match with "syntax error in pattern"
    /// (moby/patternmatcher#9).
    Regex(Result<Regex, String>),
}

#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    text: String,
    kind: Kind,
}

impl Compiled {
    pub(crate) fn new(text: &str) -> Compiled {
        Compiled {
            text: text.to_string(),
            kind: compile(text),
        }
    }

    pub(crate) fn matches(&self, path: &str) -> Result<bool, String> {
        Ok(match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|bare| path == bare)
            }
            Kind::Regex(Ok(re)) => re.is_match(path),
            Kind::Regex(Err(e)) => return Err(e.clone()),
        })
    }

    /// The literal text every path this pattern matches must start with.
    /// `None` for an exact pattern, which matches only its own text.
    pub(crate) fn literal_prefix(&self) -> Option<&str> {
        match &self.kind {
            Kind::Exact => None,
            Kind::Suffix(_) => Some(""),
            Kind::Prefix(p) => Some(p),
            Kind::Regex(_) => {
                let end = self.text.find(['*', '?', '[', ']', '\\', '^']);
                Some(&self.text[..end.unwrap_or(self.text.len())])
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ty {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// patternmatcher's translation: `*` is `[^/]*`, `?` is `[^/]`, `**` is any
/// run of segments, `\` escapes, `.+()|{}$` are literal, and `[`, `]`, `^`
/// pass through to the regular expression untouched.
fn compile(text: &str) -> Kind {
    let chars: Vec<char> = text.chars().collect();
    let mut re = String::from("^");
    let mut ty = Ty::Exact;
    let (mut i, mut step) = (0, 0);
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i < chars.len() {
                    re.push_str("(.*/)?");
                    ty = Ty::Regex;
                } else if ty == Ty::Exact {
                    ty = Ty::Prefix;
                } else {
                    re.push_str(".*");
                    ty = Ty::Regex;
                }
                if step == 0 {
                    ty = Ty::Suffix;
                }
            }
            '*' | '?' => {
                re.push_str(if c == '*' { "[^/]*" } else { "[^/]" });
                ty = Ty::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(c);
            }
            '\\' => match chars.get(i) {
                Some(&n) => {
                    re.push('\\');
                    re.push(n);
                    i += 1;
                    ty = Ty::Regex;
                }
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(c);
                ty = Ty::Regex;
            }
            _ => re.push(c),
        }
        step += 1;
    }
    match ty {
        Ty::Exact => Kind::Exact,
        Ty::Prefix => Kind::Prefix(text.strip_suffix("**").unwrap_or(text).to_string()),
        Ty::Suffix => Kind::Suffix(text.strip_prefix("**").unwrap_or(text).to_string()),
        Ty::Regex => {
            re.push('$');
            let compiled = goregex::translate(&re)
                .and_then(|r| Regex::new(&r).map_err(|e| e.to_string()))
                .map_err(|_| "syntax error in pattern".to_string());
            Kind::Regex(compiled)
        }
    }
}
