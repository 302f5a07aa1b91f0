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

/// Go's algorithm, on a validated pattern: the pattern is cut into
/// chunks that follow a run of `*`s, and each chunk takes the first place
/// it matches, never going back to an earlier chunk; so the work is
/// bounded by the lengths' product, whatever the pattern.
fn match_here(mut p: &[char], mut n: &[char]) -> bool {
    'pattern: while !p.is_empty() {
        let (star, chunk, rest) = scan_chunk(p);
        p = rest;
        if star && chunk.is_empty() {
            // A trailing `*` takes the rest of the name unless it has a `/`.
            return !n.contains(&'/');
        }
        if let Some(t) = match_chunk(chunk, n) {
            // The last chunk must take the name to its end.
            if t.is_empty() || !p.is_empty() {
                n = t;
                continue;
            }
        }
        if star {
            let mut i = 0;
            while i < n.len() && n[i] != '/' {
                if let Some(t) = match_chunk(chunk, &n[i + 1..]) {
                    if t.is_empty() || !p.is_empty() {
                        n = t;
                        continue 'pattern;
                    }
                }
                i += 1;
            }
        }
        return false;
    }
    n.is_empty()
}

/// A run of `*`s (whether there was one), the chunk up to the next `*`
/// outside a class, and the rest.
fn scan_chunk(p: &[char]) -> (bool, &[char], &[char]) {
    let stars = p.iter().take_while(|c| **c == '*').count();
    let p = &p[stars..];
    let (mut i, mut in_class) = (0, false);
    while i < p.len() {
        match p[i] {
            '\\' => i += 1,
            '[' => in_class = true,
            ']' => in_class = false,
            '*' if !in_class => break,
            _ => {}
        }
        i += 1;
    }
    let i = i.min(p.len());
    (stars > 0, &p[..i], &p[i..])
}

/// The name after `chunk` (no `*` in it) matched its start, if it did.
fn match_chunk<'n>(mut chunk: &[char], mut n: &'n [char]) -> Option<&'n [char]> {
    while !chunk.is_empty() {
        let (&c, rest) = n.split_first()?;
        match element(chunk, c) {
            Ok((true, after)) => chunk = after,
            _ => return None,
        }
        n = rest;
    }
    Some(n)
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
    fn many_stars_take_no_time() {
        let name = format!("{}:latest", "a".repeat(60));
        let pattern = format!("{}c", "*a".repeat(30));
        let start = std::time::Instant::now();
        assert!(!yes(&pattern, &name));
        assert!(yes(&"*a".repeat(30), &"a".repeat(60)));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for bad in ["[", "a[", "[]a]", "[a-", "\\", "x*[", "[^]"] {
            assert!(matches(bad, "zzz").is_err(), "{bad}");
        }
    }
}
