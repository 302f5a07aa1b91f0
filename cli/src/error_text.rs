//! How an error reaches the terminal: `kiln: error: ` and the error with its
//! causes, escaped. Every command that prints an error itself (the
//! multi-container commands go on after one) prints it through here.

/// Prints `err` as kiln prints every error.
pub fn print(err: &anyhow::Error) {
    eprintln!("kiln: error: {}", for_terminal(&chain(err)));
}

/// The error and its causes joined by ": ", as anyhow's `{:#}` joins them,
/// except that a cause the text already ends with is not told again: many
/// errors of the crates below name their source in their own message too,
/// and the reader would see "No such file or directory" twice.
pub fn chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// An error's text with control characters escaped and each line cut to a
/// readable length: errors quote what they were given (a Dockerfile's
/// words, a tar's entry names, a registry's answer), and any of it may be
/// hostile to the terminal it lands in.
pub fn for_terminal(text: &str) -> String {
    const LINE: usize = 2000;
    let lines: Vec<String> = text
        .lines()
        .map(|l| kiln_parser::excerpt::excerpt(l, LINE))
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading {path}: {source}")]
    struct Telling {
        path: &'static str,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_tells_is_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let err = anyhow::Error::from(Telling {
            path: "/x",
            source: io,
        });
        assert_eq!(chain(&err), "reading /x: entity not found");
    }

    #[test]
    fn causes_and_contexts_are_joined() {
        let err = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(chain(&err), "outer: middle: inner");
    }
}
