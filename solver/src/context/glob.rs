//! Go's `filepath.Match` for one path component: `*`, `?`, `[a-z]`,
//! `[^a-z]` and `\` escapes. COPY and ADD sources use it (BuildKit matches
//! each component with Go's rules).

/// Whether `pattern` has any wildcard character.
pub fn has_wildcards(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Whether `name` matches `pattern`; a malformed pattern matches nothing.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let Some((&first, rest)) = p.split_first() else {
        return n.is_empty();
    };
    match first {
        '*' => (0..=n.len())
            .any(|skip| n[..skip].iter().all(|c| *c != '/') && match_from(rest, &n[skip..])),
        '?' => n.first().is_some_and(|c| *c != '/') && match_from(rest, &n[1..]),
        '[' => match (n.first(), class(rest)) {
            (Some(c), Some((ok, after))) if *c != '/' && ok(*c) => match_from(after, &n[1..]),
            _ => false,
        },
        '\\' => match rest.split_first() {
            Some((esc, after)) => n.first() == Some(esc) && match_from(after, &n[1..]),
            None => false,
        },
        lit => n.first() == Some(&lit) && match_from(rest, &n[1..]),
    }
}

type ClassTest = Box<dyn Fn(char) -> bool>;

/// Parses a `[...]` class after its `[`: the test and the rest of the pattern.
fn class(p: &[char]) -> Option<(ClassTest, &[char])> {
    let (negate, mut i) = match p.first() {
        Some('^') => (true, 1),
        _ => (false, 0),
    };
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            c
        };
        i += 1;
        let hi = if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|c| *c != ']') {
            i += 1;
            let h = if p[i] == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                p[i]
            };
            i += 1;
            h
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
    let test = move |c: char| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != negate;
    Some((Box::new(test), &p[i..]))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn go_filepath_match_cases() {
        let cases = [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*/b", "abc/b", true),
            ("a*", "ab/c", false),
            ("a?c", "abc", true),
            ("a[^a]c", "abc", true),
            ("a[^b]c", "abc", false),
            ("[a-c]x", "bx", true),
            ("[a-c]x", "dx", false),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("*.txt", "notes.txt", true),
            ("*.txt", "notes.md", false),
            ("[", "a", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p, n), want, "{p} vs {n}");
        }
    }
}
