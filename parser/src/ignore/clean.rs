//! Lexical path cleaning with Go's `filepath.Clean` and `filepath.Dir`
//! rules (Unix separators), which moby/patternmatcher applies to patterns
//! and to the paths it tests.

/// Go's `filepath.Clean`: collapse repeated `/`, drop `.` parts, resolve
/// `..` lexically, drop a trailing `/`. The empty path cleans to `.`.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir`: everything before the last `/`, cleaned.
pub(crate) fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go() {
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("a//b/./c/", "a/b/c"),
            ("./a/./b/", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("a/b/../..", "."),
            ("!/", "!"),
            ("**/", "**"),
        ] {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn dir_like_go() {
        for (input, want) in [
            ("file", "."),
            ("file/", "file"),
            ("dir/file/", "dir/file"),
            ("/", "/"),
            ("/any/path/there", "/any/path"),
        ] {
            assert_eq!(dir(input), want, "dir({input:?})");
        }
    }
}
