//! Docker's management command forms (`image ls`, `container rm`,
//! `buildx build`, `builder prune`), read as the plain commands they stand
//! for before the command line is parsed, so that each command's flags are
//! declared once.

use std::ffi::OsString;

/// `image SUB` → the plain command; `image inspect` is kiln's own already,
/// and images are pruned with the store (`system prune`).
const IMAGE: [(&str, &str); 11] = [
    ("ls", "images"),
    ("list", "images"),
    ("rm", "rmi"),
    ("remove", "rmi"),
    ("tag", "tag"),
    ("history", "history"),
    ("save", "save"),
    ("load", "load"),
    ("import", "import"),
    ("pull", "pull"),
    ("push", "push"),
];

/// `container SUB` that are plain commands; `container prune` is kiln's
/// own already.
const CONTAINER: [&str; 24] = [
    "rm", "start", "stop", "restart", "kill", "logs", "inspect", "exec", "cp", "create", "run",
    "wait", "rename", "pause", "unpause", "top", "port", "diff", "commit", "export", "attach",
    "ps", "stats", "update",
];

/// `args` (argv[0] first) with a management form replaced by its plain
/// command; unchanged otherwise.
pub fn plain(mut args: Vec<OsString>) -> Vec<OsString> {
    let Some(at) =
        crate::early_helper::command_at(args.get(1..).unwrap_or_default()).map(|i| i + 1)
    else {
        return args;
    };
    let word = |i: usize| args.get(i).and_then(|a| a.to_str()).unwrap_or("");
    let replacement: Option<Vec<&str>> = match (word(at), word(at + 1)) {
        ("image", sub) => IMAGE
            .iter()
            .find(|(form, _)| *form == sub)
            .map(|(_, plain)| vec![*plain]),
        ("container", "ls" | "list") => Some(vec!["ps"]),
        ("container", sub) if CONTAINER.contains(&sub) => Some(vec![sub]),
        ("buildx", "build" | "b") => Some(vec!["build"]),
        ("builder", sub @ ("prune" | "du")) => Some(vec!["cache", sub]),
        ("system", "info") => Some(vec!["info"]),
        _ => None,
    };
    let Some(replacement) = replacement else {
        return args;
    };
    let buildx = word(at) == "buildx";
    let replacement: Vec<OsString> = replacement.into_iter().map(Into::into).collect();
    args.splice(at..at + 2, replacement);
    if buildx {
        drop_load(&mut args, at + 1);
    }
    args
}

/// `buildx build --load`: the image always lands in the store, so the flag
/// asks for nothing more.
fn drop_load(args: &mut Vec<OsString>, from: usize) {
    let end = args[from..]
        .iter()
        .position(|a| a == "--")
        .map_or(args.len(), |i| from + i);
    let mut i = from;
    let mut end = end;
    while i < end {
        if args[i] == "--load" || args[i] == "--load=true" {
            args.remove(i);
            end -= 1;
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(line: &str) -> String {
        let args = line.split_whitespace().map(Into::into).collect();
        let out: Vec<String> = plain(args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        out.join(" ")
    }

    #[test]
    fn management_forms_become_plain_commands() {
        assert_eq!(rewritten("kiln image ls -q"), "kiln images -q");
        assert_eq!(
            rewritten("kiln --root /r image rm x"),
            "kiln --root /r rmi x"
        );
        assert_eq!(rewritten("kiln container ls -a"), "kiln ps -a");
        assert_eq!(
            rewritten("kiln container run --rm img"),
            "kiln run --rm img"
        );
        assert_eq!(
            rewritten("kiln buildx build --load -t x ."),
            "kiln build -t x ."
        );
        assert_eq!(rewritten("kiln builder du"), "kiln cache du");
        assert_eq!(
            rewritten("kiln container update -m 64m c"),
            "kiln update -m 64m c"
        );
        assert_eq!(rewritten("kiln container stats -a"), "kiln stats -a");
        assert_eq!(rewritten("kiln system info"), "kiln info");
    }

    #[test]
    fn kilns_own_forms_and_other_words_are_left() {
        assert_eq!(rewritten("kiln image inspect x"), "kiln image inspect x");
        assert_eq!(rewritten("kiln container prune"), "kiln container prune");
        assert_eq!(rewritten("kiln run img image ls"), "kiln run img image ls");
        assert_eq!(rewritten("kiln --bogus image ls"), "kiln --bogus image ls");
        assert_eq!(rewritten("kiln"), "kiln");
    }
}
