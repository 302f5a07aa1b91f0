//! Shell patterns in `${V#p}`, `${V%p}` and `${V/p/r}`: `*` (shortest or
//! longest run), `?` (one character), `\` escapes; no bracket expressions,
//! as in BuildKit. Suffix trims reverse both the value and the pattern so
//! that "shortest match at the end" becomes a leftmost search.

use regex::Regex;

use super::ExpandError;

fn to_regex(pat: &str, greedy: bool, anchored: bool) -> Result<Regex, ExpandError> {
    let invalid = |reason: String| ExpandError::InvalidPattern {
        pattern: pat.to_string(),
        reason,
    };
    let mut out = String::from(if anchored { "^" } else { "" });
    let mut chars = pat.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(if greedy { ".*" } else { ".*?" }),
            '?' => out.push('.'),
            // `\}` and `\/` were escaped only to get past the `${…}`
            // syntax; the backslash is not part of the pattern.
            '\\' if matches!(chars.peek(), Some('}' | '/')) => {}
            '\\' => match chars.next() {
                Some(e @ ('*' | '?' | '\\')) => {
                    out.push('\\');
                    out.push(e);
                }
                Some(e) => return Err(invalid(format!("invalid escape '\\{e}'"))),
                None => return Err(invalid("trailing backslash".to_string())),
            },
            _ => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    Regex::new(&out).map_err(|e| invalid(e.to_string()))
}

pub(super) fn trim_prefix(pat: &str, value: &str, greedy: bool) -> Result<String, ExpandError> {
    let re = to_regex(pat, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

pub(super) fn trim_suffix(pat: &str, value: &str, greedy: bool) -> Result<String, ExpandError> {
    let reversed: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pat), &reversed, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverse a pattern but keep each escape in front of the character it
/// escapes.
fn reverse_pattern(pat: &str) -> String {
    let chars: Vec<char> = pat.chars().collect();
    let mut units: Vec<&[char]> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let len = if chars[i] == '\\' && i + 1 < chars.len() {
            2
        } else {
            1
        };
        units.push(&chars[i..i + len]);
        i += len;
    }
    units.iter().rev().flat_map(|u| u.iter()).collect()
}

pub(super) fn replace(
    pat: &str,
    replacement: &str,
    value: &str,
    all: bool,
) -> Result<String, ExpandError> {
    let re = to_regex(pat, true, false)?;
    let mut out = String::new();
    let mut last = 0;
    for m in re.find_iter(value) {
        out.push_str(&value[last..m.start()]);
        expand_template(replacement, m.as_str(), &mut out);
        last = m.end();
        if !all {
            break;
        }
    }
    out.push_str(&value[last..]);
    Ok(out)
}

/// BuildKit hands the replacement to Go's `Regexp.ReplaceAllString`, which
/// reads `$name`/`${name}` as group references: `$0` is the match, `$$` a
/// literal `$`, and any other reference is empty (the pattern has no
/// groups). A `$` that starts no valid reference stays literal.
fn expand_template(template: &str, matched: &str, out: &mut String) {
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (name, after) = match rest.strip_prefix('{') {
            Some(inner) => match inner.find('}') {
                Some(end) => (&inner[..end], &inner[end + 1..]),
                None => ("", rest),
            },
            None => {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push('$');
            continue;
        }
        if name == "0" {
            out.push_str(matched);
        }
        rest = after;
    }
    out.push_str(rest);
}
