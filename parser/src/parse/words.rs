//! Words of ARG, ENV and LABEL (BuildKit's parseWords): split on Unicode
//! whitespace outside quotes; quotes and escape characters stay in the word.

use super::grammar::{inner, Rule};
use super::text;

/// The words of `args`. Bytes that are not UTF-8 become U+FFFD, as BuildKit
/// builds these words rune by rune.
pub fn split(args: &[u8], escape: u8) -> Vec<Vec<u8>> {
    let mut input = String::with_capacity(args.len() + 1);
    input.push(char::from(escape));
    input.push_str(&text::to_repr(args));
    let Some(pairs) = inner(Rule::words, &input) else {
        return Vec::new();
    };
    pairs
        .filter(|p| p.as_rule() == Rule::word)
        .map(|word| {
            let mut raw = word.as_str();
            // An escape character at the very end of the input is dropped.
            let ends_in_escape = word
                .clone()
                .into_inner()
                .any(|p| p.as_rule() == Rule::word_escape_end);
            if ends_in_escape {
                raw = &raw[..raw.len() - 1];
            }
            text::lossy(&text::from_repr(raw)).into_bytes()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split(s.as_bytes(), b'\\')
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn keeps_quotes_and_escapes() {
        assert_eq!(
            words(r#"abc="123 456" def"#),
            vec![r#"abc="123 456""#, "def"]
        );
        assert_eq!(words(r"a\ b  'c d'"), vec![r"a\ b", "'c d'"]);
        assert_eq!(words("D=\"\" E=''"), vec!["D=\"\"", "E=''"]);
        assert_eq!(words("a\u{3000}b"), vec!["a", "b"]);
    }

    #[test]
    fn drops_a_final_escape_and_runs_an_open_quote_to_the_end() {
        assert_eq!(words(r"a b\"), vec!["a", "b"]);
        assert_eq!(words(r#"a "b c"#), vec!["a", "\"b c"]);
        assert_eq!(words(r#"a="b\"#), vec!["a=\"b"]);
    }
}
