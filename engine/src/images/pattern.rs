//! Go's `path.Match`, the glob Docker's `images --filter reference=`
//! takes: `*` is any run of characters but `/`, `?` one character but
//! `/`, `[…]` a class (`^` negates, `a-z` ranges), `\` escapes. A
//! malformed pattern is an error, as in Go, even when the name does not
//! reach the bad part.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {0:?}")]
pub struct BadPattern(pub String);

/// Whether `name` matches all of `pattern`.
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    validate(&p).map_err(|()| BadPattern(pattern.into()))?;
    Ok(match_here(&p, &n))
}

/// Every element of the pattern parses.
fn validate(mut p: &[char]) -> Result<(), ()> {
    while !p.is_empty() {
        p = match p[0] {
            '*' => &p[1..],
            _ => element(p, '\0')?.1,
        };
    }
    Ok(())
}

/// Backtracking over `*`; only called on a validated pattern.
fn match_here(p: &[char], n: &[char]) -> bool {
    if p.first() == Some(&'*') {
        let rest = &p[1..];
        for i in 0..=n.len() {
            if match_here(rest, &n[i..]) {
                return true;
            }
            if n.get(i) == Some(&'/') {
                return false;
            }
        }
        return false;
    }
    match (p.is_empty(), n.split_first()) {
        (true, _) => n.is_empty(),
        (false, None) => false,
        (false, Some((&c, n_rest))) => match element(p, c) {
            Ok((true, p_rest)) => match_here(p_rest, n_rest),
            _ => false,
        },
    }
}

/// Whether the pattern's first element (not `*`) takes `c`, and the
/// pattern after it.
fn element(p: &[char], c: char) -> Result<(bool, &[char]), ()> {
    match p[0] {
        '?' => Ok((c != '/', &p[1..])),
        '\\' => match p.get(1) {
            Some(&e) => Ok((e == c, &p[2..])),
            None => Err(()),
        },
        '[' => class(p, c),
        other => Ok((other == c, &p[1..])),
    }
}

/// `[^a-z…]`: at least one range, closed by `]`.
fn class(p: &[char], c: char) -> Result<(bool, &[char]), ()> {
    let mut i = 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let (mut matched, mut ranges) = (false, 0);
    loop {
        if p.get(i) == Some(&']') && ranges > 0 {
            i += 1;
            break;
        }
        let (lo, next) = class_char(p, i)?;
        let (hi, next) = match p.get(next) {
            Some('-') => class_char(p, next + 1)?,
            _ => (lo, next),
        };
        i = next;
        matched |= lo <= c && c <= hi;
        ranges += 1;
    }
    Ok((matched != negated, &p[i..]))
}

/// One character of a class, escaped or not; `-` and `]` must be escaped.
fn class_char(p: &[char], i: usize) -> Result<(char, usize), ()> {
    match p.get(i) {
        None | Some('-') | Some(']') => Err(()),
        Some('\\') => p.get(i + 1).map(|&c| (c, i + 2)).ok_or(()),
        Some(&c) => Ok((c, i + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yes(p: &str, n: &str) -> bool {
        matches(p, n).unwrap()
    }

    #[test]
    fn stars_and_marks_stop_at_slashes() {
        assert!(yes("busy*", "busybox"));
        assert!(yes("busybox:*", "busybox:latest"));
        assert!(yes("*", "busybox"));
        assert!(!yes("*", "library/busybox"));
        assert!(yes("*/*", "library/busybox"));
        assert!(yes("b?sybox", "busybox"));
        assert!(!yes("a?b", "a/b"));
        assert!(yes("*box*", "busybox:1"));
        assert!(!yes("busy", "busybox"));
        assert!(yes("", ""));
    }

    #[test]
    fn classes_and_escapes_match_as_in_go() {
        assert!(yes("busybox:[0-9]", "busybox:1"));
        assert!(!yes("busybox:[^0-9]", "busybox:1"));
        assert!(yes("busybox:[a\\-]", "busybox:-"));
        assert!(yes("a\\*", "a*"));
        assert!(!yes("a\\*", "ab"));
        assert!(yes("a]", "a]"));
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for bad in ["[", "a[", "[]a]", "[a-", "\\", "x*[", "[^]"] {
            assert!(matches(bad, "zzz").is_err(), "{bad}");
        }
    }
}
