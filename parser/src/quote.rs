//! Go's `strconv.Quote`, on bytes: the quoting of BuildKit's dump (FORMAT.md
//! §5). Rust's `{:?}` differs (it escapes other characters, and knows no
//! `\x` for raw bytes), hence this.

use crate::parse::text;

/// `"` + the escaped text + `"`. Bytes that are not UTF-8 become `\xHH`.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        let (c, n) = text::decode(rest);
        match c {
            Some(c) => push_char(&mut out, c),
            None => out.push_str(&format!("\\x{:02x}", rest[0])),
        }
        rest = &rest[n..];
    }
    out.push('"');
    out
}

fn push_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if is_print(c) => out.push(c),
        c if u32::from(c) < 0x20 || c == '\u{7f}' => {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        }
        c if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
    }
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols
/// and the ASCII space.
pub fn is_print(c: char) -> bool {
    use pest::unicode::{LETTER, MARK, NUMBER, PUNCTUATION, SYMBOL};
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    LETTER(c) || MARK(c) || NUMBER(c) || PUNCTUATION(c) || SYMBOL(c)
}

/// Go's `unicode.ToLower` (simple case mapping: one scalar to one scalar).
pub fn go_lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(
            quote("\u{a0}|\u{1b}[0m|\u{7f}|😀|\u{2028}|é|\t\\|\"".as_bytes()),
            r#""\u00a0|\x1b[0m|\x7f|😀|\u2028|é|\t\\|\"""#
        );
        assert_eq!(quote(b"echo \xff\xfe raw"), r#""echo \xff\xfe raw""#);
        assert_eq!(
            quote("\u{e000}\u{10ffff}\u{feff}".as_bytes()),
            r#""\ue000\U0010ffff\ufeff""#
        );
        assert_eq!(quote("日本 ♥".as_bytes()), "\"日本 ♥\"");
    }
}
