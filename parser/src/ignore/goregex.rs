//! moby/patternmatcher turns a pattern into a Go regular expression by
//! passing `[` and `]` through untouched, so a class in the pattern and the
//! `[^/]` it generates for `*` and `?` can run into each other (`[*]`
//! becomes `[[^/]*]`). To match what Go does with such text, the generated
//! expression is read here with Go's `regexp` rules and re-emitted in the
//! `regex` crate's syntax, where `[` inside a class would otherwise nest.

use std::iter::Peekable;
use std::str::Chars;

/// Translate a Go RE2 expression of the shapes patternmatcher generates.
/// An error stands for Go's `regexp.Compile` failing.
pub(crate) fn translate(go: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = go.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => out.push_str(&escape(&mut it, false)?),
            '[' => out.push_str(&class(&mut it)?),
            ']' => out.push_str("\\]"),
            '(' => out.push_str("(?:"),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// One `\x` escape. Go accepts escaped punctuation as the literal, a few
/// letters as control characters or ASCII classes, and rejects the rest.
fn escape(it: &mut Peekable<Chars>, in_class: bool) -> Result<String, String> {
    let c = it.next().ok_or("trailing backslash at end of expression")?;
    let text = match c {
        c if c.is_ascii_punctuation() => regex::escape(c.encode_utf8(&mut [0; 4])),
        'a' => "\\x07".into(),
        'f' => "\\x0C".into(),
        't' => "\\t".into(),
        'n' => "\\n".into(),
        'r' => "\\r".into(),
        'v' => "\\x0B".into(),
        'd' => "0-9".into(),
        's' => "\\t\\n\\x0C\\r ".into(),
        'w' => "0-9A-Za-z_".into(),
        'D' if !in_class => "[^0-9]".into(),
        'S' if !in_class => "[^\\t\\n\\x0C\\r ]".into(),
        'W' if !in_class => "[^0-9A-Za-z_]".into(),
        'b' | 'B' if !in_class => format!("(?-u:\\{c})"),
        'A' | 'z' if !in_class => format!("\\{c}"),
        _ => return Err(format!("invalid escape sequence: `\\{c}`")),
    };
    let wrap = !in_class && matches!(c, 'd' | 's' | 'w');
    Ok(if wrap { format!("[{text}]") } else { text })
}

/// A bracket class after its `[`: Go allows `]` first as a literal, POSIX
/// `[:name:]` items, escapes, and ranges that must not be reversed.
fn class(it: &mut Peekable<Chars>) -> Result<String, String> {
    let mut out = String::from("[");
    if it.peek() == Some(&'^') {
        it.next();
        out.push('^');
    }
    let mut first = true;
    loop {
        let c = it.next().ok_or("missing closing ]")?;
        if c == ']' && !first {
            out.push(']');
            return Ok(out);
        }
        first = false;
        if c == '[' && it.peek() == Some(&':') {
            out.push_str(&posix(it)?);
            continue;
        }
        let lo = item(c, it)?;
        let range_follows = it.peek() == Some(&'-') && {
            let mut ahead = it.clone();
            ahead.next();
            ahead.peek().is_some_and(|&n| n != ']')
        };
        if !range_follows {
            out.push_str(&lo.1);
            continue;
        }
        it.next();
        let first_hi = it.next().ok_or("missing closing ]")?;
        let hi = item(first_hi, it)?;
        match (lo.0, hi.0) {
            (Some(l), Some(h)) if l <= h => out.push_str(&format!("{}-{}", lo.1, hi.1)),
            _ => return Err("invalid character class range".to_string()),
        }
    }
}

/// One class member: `(the single character, if it is one, its text)`.
fn item(c: char, it: &mut Peekable<Chars>) -> Result<(Option<char>, String), String> {
    if c != '\\' {
        return Ok((Some(c), regex::escape(c.encode_utf8(&mut [0; 4]))));
    }
    let next = it.peek().copied();
    let text = escape(it, true)?;
    let single = next.filter(|n| n.is_ascii_punctuation()).or(match next {
        Some('a') => Some('\x07'),
        Some('f') => Some('\x0C'),
        Some('t') => Some('\t'),
        Some('n') => Some('\n'),
        Some('r') => Some('\r'),
        Some('v') => Some('\x0B'),
        _ => None,
    });
    Ok((single, text))
}

/// `[:alpha:]` and friends, after the `[`; Go and the `regex` crate share
/// these names, and `[:^alpha:]` negates in both.
fn posix(it: &mut Peekable<Chars>) -> Result<String, String> {
    let rest: String = it.clone().collect();
    let end = rest.find(":]").ok_or("missing closing ]")?;
    let name = &rest[..end];
    const NAMES: [&str; 14] = [
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];
    if !NAMES.contains(&name.trim_start_matches(':').trim_start_matches('^')) {
        return Err(format!("invalid character class range: `[{name}:]`"));
    }
    for _ in 0..end + 2 {
        it.next();
    }
    Ok(format!("[{name}:]"))
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn matches(go: &str, text: &str) -> bool {
        let rust = translate(go).expect("translates");
        regex::Regex::new(&rust).expect("compiles").is_match(text)
    }

    #[test]
    fn class_with_generated_star_reads_as_go_does() {
        // `[[^/]*]`: Go reads the class {'[', '^', '/'}, then `*`, then `]`.
        assert!(matches("^[[^/]*]$", "[^]"));
        assert!(matches("^[[^/]*]$", "]"));
        assert!(!matches("^[[^/]*]$", "x]"));
    }

    #[test]
    fn go_escapes_and_classes() {
        assert!(matches("^[\\]a]$", "]"));
        assert!(matches("^a\\*b$", "a*b"));
        assert!(matches("^\\#x$", "#x"));
        assert!(matches("^[]a]$", "]"));
        assert!(matches("^[[:digit:]]$", "7"));
        assert!(matches("^\\d$", "7"));
        assert!(!matches("^\\d$", "٣"));
        assert!(translate("^[l-O]$").is_err());
        assert!(translate("^\\q$").is_err());
        assert!(translate("^[a").is_err());
    }
}
