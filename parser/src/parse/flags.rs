//! BuildKit's builder flags: the `--name[=value]` words at the start of an
//! instruction's arguments (every instruction, CMD included).

use super::grammar::{inner, Rule};
use super::text;

/// The flags taken from `args`, each with its byte offset in `args`, and
/// the byte offset where the remaining arguments start.
pub fn extract(args: &[u8], escape: u8) -> (Vec<(String, usize)>, usize) {
    // The grammar sees the escape character first, then one scalar per byte.
    let mut input = String::with_capacity(args.len() + 1);
    input.push(char::from(escape));
    input.push_str(&text::to_latin1(args));
    // Pest gives offsets in the Latin-1 text; walk forward to byte offsets
    // of `args` (pairs come in order, so the walk is linear).
    let mut cursor = (0usize, 0usize);
    let mut offset = |byte: usize| {
        let (from, count) = cursor;
        let count = count + input[from..byte].chars().count();
        cursor = (byte, count);
        count - 1
    };

    let mut flags = Vec::new();
    let Some(pairs) = inner(Rule::flags, &input) else {
        return (flags, args.len());
    };
    for pair in pairs {
        match pair.as_rule() {
            Rule::flag => {
                let start = offset(pair.as_span().start());
                let end = offset(pair.as_span().end());
                let value = flag_value(pair);
                // A bare `--` ends the flags and is dropped.
                if value == "--" {
                    return (flags, end);
                }
                flags.push((value, start));
            }
            Rule::flag_args => return (flags, offset(pair.as_span().start())),
            _ => {}
        }
    }
    (flags, args.len())
}

/// The word with quotes and escape characters removed.
fn flag_value(pair: pest::iterators::Pair<'_, Rule>) -> String {
    let mut out = String::new();
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::flag_plain | Rule::flag_sq_char | Rule::flag_dq_char | Rule::flag_char => {
                out.push_str(part.as_str())
            }
            Rule::flag_sq | Rule::flag_dq | Rule::flag_escaped => out.push_str(&flag_value(part)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &str) -> (Vec<String>, String) {
        let (f, rest) = extract(args.as_bytes(), b'\\');
        (
            f.into_iter().map(|(s, _)| s).collect(),
            args[rest..].to_string(),
        )
    }

    #[test]
    fn removes_quotes_and_escapes_inside_flags() {
        let (f, rest) = flags(r#"--chmod="0755" --from='my stage' x y"#);
        assert_eq!(f, vec!["--chmod=0755", "--from=my stage"]);
        assert_eq!(rest, "x y");
        assert_eq!(flags(r"--a=b\ c d").0, vec!["--a=b c"]);
    }

    #[test]
    fn a_bare_double_dash_ends_the_flags() {
        let (f, rest) = flags("-- --weird-name /dst/");
        assert!(f.is_empty());
        assert_eq!(rest.trim(), "--weird-name /dst/");
        assert_eq!(flags("--x --").1, "");
    }

    #[test]
    fn bytes_become_latin1_characters() {
        let (f, _) = extract("--chown=é a".as_bytes(), b'\\');
        assert_eq!(f[0].0, "--chown=Ã©");
    }
}
