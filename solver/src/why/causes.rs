//! The differences between two ingredient lists of one step, as causes in
//! words, the step's own ingredients only (the parent key is judged by
//! the caller, which knows the stage and the step before). Ordered as a
//! reader asks: the command, then the environment, the build args, the
//! files; each file says what changed about it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use kiln_cache::Ingredient;
use serde::Serialize;

use crate::cachekey::{files, from_stage, runtime};

/// One reason a step missed the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// `command`, `env`, `arg`, `file`, `stage`, `image`, `mount`,
    /// `instruction`, `no-cache`, `new-step`, `base-image`, `base-stage`,
    /// `previous-step`, `not-in-cache`, `record-gone`.
    pub kind: &'static str,
    /// What the cause is about: a variable's name, a file's path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// The line `cache why` prints.
    pub text: String,
}

impl Cause {
    pub fn plain(kind: &'static str, text: impl Into<String>) -> Cause {
        Cause {
            kind,
            subject: None,
            old: None,
            new: None,
            text: text.into(),
        }
    }

    fn about(
        kind: &'static str,
        subject: &str,
        old: Option<&str>,
        new: Option<&str>,
        text: String,
    ) -> Cause {
        Cause {
            kind,
            subject: Some(subject.to_string()),
            old: old.map(str::to_string),
            new: new.map(str::to_string),
            text,
        }
    }
}

/// What naming a change needs besides the two lists.
pub struct Lookup<'a> {
    /// `builds/copy-files/` (large COPY lists).
    pub copy_lists: &'a Path,
    /// `builds/copy-from-files/` (COPY --from content lists).
    pub from_lists: &'a Path,
    /// Stage labels by final dispatch key, of both builds.
    pub stage_of_key: &'a HashMap<String, String>,
}

/// Most lines a changed file list is described by.
pub const LISTED: usize = 10;

/// The step's own ingredients that differ, most telling first.
pub fn own(old: &[Ingredient], new: &[Ingredient], look: &Lookup<'_>) -> Vec<Cause> {
    let (old_by, new_by) = (group(old), group(new));
    let mut ranked: Vec<(u8, Cause)> = Vec::new();
    let mut names: Vec<&str> = new_by.iter().map(|(n, _)| *n).collect();
    names.extend(old_by.iter().map(|(n, _)| *n).filter(|n| !has(&new_by, n)));
    for name in names {
        if name == "parent" || is_copied_stage(name) {
            continue;
        }
        let (o, n) = (values(&old_by, name), values(&new_by, name));
        if o == n {
            continue;
        }
        let rank = rank(name);
        for cause in describe(name, &o, &n, look) {
            ranked.push((rank, cause));
        }
    }
    for cause in copied_stage(&old_by, &new_by, look) {
        ranked.push((3, cause));
    }
    // Stable: within a rank, the key's own order.
    ranked.sort_by_key(|(r, _)| *r);
    ranked.into_iter().map(|(_, c)| c).collect()
}

type Grouped<'a> = Vec<(&'a str, Vec<&'a str>)>;

fn group(list: &[Ingredient]) -> Grouped<'_> {
    let mut out: Grouped<'_> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for i in list {
        match at.get(i.name.as_ref()) {
            Some(&n) => out[n].1.push(&i.value),
            None => {
                at.insert(&i.name, out.len());
                out.push((&i.name, vec![&i.value]));
            }
        }
    }
    out
}

fn has(g: &Grouped<'_>, name: &str) -> bool {
    g.iter().any(|(n, _)| *n == name)
}

fn values<'a>(g: &Grouped<'a>, name: &str) -> Vec<&'a str> {
    g.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn first<'a>(g: &Grouped<'a>, name: &str) -> Option<&'a str> {
    values(g, name).first().copied()
}

/// The order causes are told in: the instruction itself, env, build
/// args, then what it reads (files, stages, images).
fn rank(name: &str) -> u8 {
    let mounted = name
        .strip_prefix("mount")
        .and_then(|r| r.split_once(':'))
        .map(|(_, rest)| rest);
    match name.split_once(':').map_or(name, |(head, _)| head) {
        "env" => 1,
        "arg" => 2,
        "file" | "files" | "from-image" | "url" | "git" => 3,
        _ if mounted.is_some_and(|m| m.starts_with("file:") || m.starts_with("from-")) => 3,
        _ => 0,
    }
}

fn is_copied_stage(name: &str) -> bool {
    name == runtime::FROM_STAGE || name.starts_with(&format!("{}:", runtime::FROM_CONTENT))
}

fn shown(v: Option<&str>) -> String {
    match v {
        None | Some("") => "(none)".to_string(),
        Some(v) if v.chars().count() > 60 => format!("{}…", v.chars().take(57).collect::<String>()),
        Some(v) => v.to_string(),
    }
}

/// Changed, added or removed, for a value that is shown as it is.
fn valued(
    kind: &'static str,
    subject: &str,
    what: &str,
    o: Option<&str>,
    n: Option<&str>,
) -> Cause {
    let text = match (o, n) {
        (Some(o), Some(n)) => format!("{what} changed: {} -> {}", shown(Some(o)), shown(Some(n))),
        (None, Some(n)) => format!("{what} added: {}", shown(Some(n))),
        (Some(o), None) => format!("{what} removed (was {})", shown(Some(o))),
        (None, None) => format!("{what} changed"),
    };
    Cause::about(kind, subject, o, n, text)
}

fn describe(name: &str, old: &[&str], new: &[&str], look: &Lookup<'_>) -> Vec<Cause> {
    let mut out = Vec::new();
    if let Some(source) = name.strip_prefix(files::PREFIX) {
        let (o, n) = (old.first().copied(), new.first().copied());
        let lists = o
            .and_then(|o| files::load(look.copy_lists, o))
            .zip(n.and_then(|n| files::load(look.copy_lists, n)));
        match lists {
            Some((a, b)) => out.extend(file_lines(&a, &b, |p| format!("file {p}"))),
            None => out.push(Cause::about(
                "file",
                source,
                o,
                n,
                format!("files of {source} changed"),
            )),
        }
        return out;
    }
    if let Some(path) = name.strip_prefix("file:") {
        out.extend(file_cause(
            &format!("file {path}"),
            path,
            old.first().copied(),
            new.first().copied(),
        ));
        return out;
    }
    if let Some((mount, what)) = name.strip_prefix("mount").and_then(|r| r.split_once(':')) {
        let number = mount.parse::<usize>().map_or(0, |n| n + 1);
        let (o, n) = (old.first().copied(), new.first().copied());
        if let Some(path) = what.strip_prefix("file:") {
            out.extend(file_cause(&format!("mounted file {path}"), path, o, n));
        } else if what == "from-stage" {
            let stage = n.or(o).and_then(|k| look.stage_of_key.get(k));
            let text = match stage {
                Some(s) => format!("stage {s} (mount {number}) changed"),
                None => format!("the stage of mount {number} changed"),
            };
            out.push(Cause::about("stage", stage.map_or("", |s| s), o, n, text));
        } else if what == "from-image" {
            out.push(valued(
                "image",
                name,
                &format!("the image of mount {number}"),
                o,
                n,
            ));
        } else {
            out.push(valued(
                "mount",
                name,
                &format!("mount {number} ({what})"),
                o,
                n,
            ));
        }
        return out;
    }
    let (kind, what): (&'static str, String) = match name.split_once(':') {
        Some(("env", e)) => ("env", format!("env {e}")),
        Some(("arg", a)) => ("arg", format!("build arg {a}")),
        Some(("heredoc" | "script", h)) => ("command", format!("heredoc {h}")),
        Some(("url", u)) => ("file", format!("download {u}")),
        Some(("git", g)) => ("file", format!("git source {g}")),
        _ => match name {
            "cmd" => ("command", "command".to_string()),
            "kind" => ("instruction", "instruction".to_string()),
            "from-image" => ("image", "the image it copies from".to_string()),
            "dest" => ("instruction", "destination".to_string()),
            "chown" => ("instruction", "owner (--chown)".to_string()),
            "chmod" => ("instruction", "mode (--chmod)".to_string()),
            "workdir" => ("instruction", "working directory".to_string()),
            "parents" => ("instruction", "--parents".to_string()),
            "exclude" => ("instruction", "--exclude".to_string()),
            other => ("instruction", other.to_string()),
        },
    };
    let subject = name.split_once(':').map_or(name, |(_, s)| s);
    for i in 0..old.len().max(new.len()) {
        let (o, n) = (old.get(i).copied(), new.get(i).copied());
        if o != n {
            out.push(valued(kind, subject, &what, o, n));
        }
    }
    out
}

/// A COPY --from=STAGE's source: by content (`from-content:STAGE`) when
/// it ran after its stage, else by the stage's definition (`from-stage`).
fn copied_stage(old: &Grouped<'_>, new: &Grouped<'_>, look: &Lookup<'_>) -> Vec<Cause> {
    let by_content = |g: &Grouped<'_>| {
        g.iter().find_map(|(n, v)| {
            let stage = n.strip_prefix(runtime::FROM_CONTENT)?.strip_prefix(':')?;
            Some((
                stage.to_string(),
                v.first().copied().unwrap_or_default().to_string(),
            ))
        })
    };
    let by_definition = |g: &Grouped<'_>| first(g, runtime::FROM_STAGE).map(str::to_string);
    let (oc, nc) = (by_content(old), by_content(new));
    let (od, nd) = (by_definition(old), by_definition(new));
    if oc == nc && od == nd {
        return Vec::new();
    }
    let stage = nc
        .as_ref()
        .map(|(s, _)| s.clone())
        .or_else(|| nd.as_ref().and_then(|k| look.stage_of_key.get(k).cloned()))
        .or_else(|| oc.as_ref().map(|(s, _)| s.clone()));
    let name = stage.clone().unwrap_or_default();
    if let (Some((os, od)), Some((ns, nd))) = (&oc, &nc) {
        if os == ns {
            let lists = files::load(look.from_lists, od).zip(files::load(look.from_lists, nd));
            if let Some((a, b)) = lists {
                let lines = file_lines(&a, &b, |p| format!("{p} from stage {ns}"));
                if !lines.is_empty() {
                    return lines;
                }
            }
            return vec![Cause::about(
                "stage",
                ns,
                Some(od),
                Some(nd),
                format!("the files it copies from stage {ns} changed"),
            )];
        }
    }
    let text = match &stage {
        Some(s) => format!("stage {s} changed"),
        None => "the stage it copies from changed".to_string(),
    };
    let value = |c: &Option<(String, String)>, d: &Option<String>| {
        c.as_ref().map(|(_, v)| v.clone()).or_else(|| d.clone())
    };
    vec![Cause {
        kind: "stage",
        subject: Some(name),
        old: value(&oc, &od),
        new: value(&nc, &nd),
        text,
    }]
}

/// The files of two lists that differ, at most [`LISTED`] lines.
fn file_lines(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    label: impl Fn(&str) -> String,
) -> Vec<Cause> {
    let mut lines = Vec::new();
    for (path, value) in new {
        let o = old.get(path).map(String::as_str);
        if o != Some(value.as_str()) {
            lines.extend(file_cause(&label(path), path, o, Some(value)));
        }
    }
    for (path, value) in old.iter().filter(|(p, _)| !new.contains_key(*p)) {
        lines.extend(file_cause(&label(path), path, Some(value), None));
    }
    if lines.len() > LISTED {
        let more = lines.len() - LISTED;
        lines.truncate(LISTED);
        lines.push(Cause::plain("file", format!("and {more} more files")));
    }
    lines
}

/// A file as its key value reads: `MODE [UID:GID] KIND[:WHAT]`.
struct FileState<'a> {
    mode: u32,
    owner: Option<&'a str>,
    kind: &'a str,
    content: &'a str,
}

fn parse_file(v: &str) -> Option<FileState<'_>> {
    let mut parts = v.splitn(3, ' ');
    let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
    let second = parts.next()?;
    let is_owner = second.split_once(':').is_some_and(|(u, g)| {
        !u.is_empty() && u.bytes().chain(g.bytes()).all(|b| b.is_ascii_digit())
    });
    let (owner, rest) = match is_owner {
        true => (Some(second), parts.next()?),
        false => (None, second),
    };
    let (kind, content) = rest.split_once(':').unwrap_or((rest, ""));
    Some(FileState {
        mode,
        owner,
        kind,
        content,
    })
}

fn kind_word(k: &str) -> &str {
    match k {
        "link" => "symlink",
        "dir" => "directory",
        "file" => "file",
        _ => "special file",
    }
}

/// What changed about one file: content, mode, owner, type; or that it
/// was added or removed.
fn file_cause(label: &str, path: &str, old: Option<&str>, new: Option<&str>) -> Option<Cause> {
    let text = match (old, new) {
        (None, None) => return None,
        (None, Some(_)) => format!("{label}: added"),
        (Some(_), None) => format!("{label}: removed"),
        (Some(o), Some(n)) => match (parse_file(o), parse_file(n)) {
            (Some(a), Some(b)) => {
                let mut parts = Vec::new();
                if a.kind != b.kind {
                    parts.push(format!(
                        "type {} -> {}",
                        kind_word(a.kind),
                        kind_word(b.kind)
                    ));
                } else if a.content != b.content {
                    parts.push(match a.kind {
                        "link" => format!("symlink target {} -> {}", a.content, b.content),
                        _ => "content changed".to_string(),
                    });
                }
                if a.mode & 0o7777 != b.mode & 0o7777 {
                    parts.push(format!(
                        "mode {:04o} -> {:04o}",
                        a.mode & 0o7777,
                        b.mode & 0o7777
                    ));
                }
                if a.owner != b.owner {
                    parts.push(format!("owner {} -> {}", shown(a.owner), shown(b.owner)));
                }
                if parts.is_empty() {
                    return None;
                }
                format!("{label}: {}", parts.join(", "))
            }
            _ => format!("{label}: changed"),
        },
    };
    Some(Cause::about("file", path, old, new, text))
}

/// The file lists behind `from-content` digests live here.
pub fn from_lists(root: &Path) -> std::path::PathBuf {
    from_stage::list_dir(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cachekey::ingredients as ing;

    fn texts(old: &[(&str, &str)], new: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let keys = HashMap::from([("kb".to_string(), "b".to_string())]);
        let look = Lookup {
            copy_lists: dir.path(),
            from_lists: dir.path(),
            stage_of_key: &keys,
        };
        own(&ing(old), &ing(new), &look)
            .into_iter()
            .map(|c| c.text)
            .collect()
    }

    #[test]
    fn command_then_env_then_args_then_files() {
        let old = [
            ("parent", "p"),
            ("cmd", "a"),
            ("file:x", "100644 file:1"),
            ("arg:V", "1"),
            ("env:E", "1"),
        ];
        let new = [
            ("parent", "q"),
            ("cmd", "b"),
            ("file:x", "100600 file:1"),
            ("arg:V", "3"),
            ("env:E", "2"),
        ];
        assert_eq!(
            texts(&old, &new),
            [
                "command changed: a -> b",
                "env E changed: 1 -> 2",
                "build arg V changed: 1 -> 3",
                "file x: mode 0644 -> 0600",
            ]
        );
    }

    #[test]
    fn files_say_what_changed_about_them() {
        let old = [
            ("file:a", "100644 file:1"),
            ("file:b", "100644 file:1"),
            ("file:l", "120777 link:x"),
        ];
        let new = [
            ("file:a", "100755 file:2"),
            ("file:c", "100644 file:1"),
            ("file:l", "120777 link:y"),
        ];
        assert_eq!(
            texts(&old, &new),
            [
                "file a: content changed, mode 0644 -> 0755",
                "file c: added",
                "file l: symlink target x -> y",
                "file b: removed",
            ]
        );
        assert_eq!(
            texts(&[("arg:V", "1")], &[]),
            ["build arg V removed (was 1)"]
        );
        assert_eq!(texts(&[], &[("env:E", "")]), ["env E added: (none)"]);
    }

    #[test]
    fn copied_stages_by_content_and_by_definition() {
        let dir = tempfile::tempdir().unwrap();
        let list = |body: &str| {
            let text = files::encode(&[("/bf".to_string(), body.to_string())]);
            let digest = blake3::hash(text.as_bytes()).to_hex().to_string();
            files::save(dir.path(), &digest, &text).unwrap();
            digest
        };
        let (a, b) = (list("100644 0:0 file:1"), list("100644 1000:0 file:1"));
        let keys = HashMap::from([("kb".to_string(), "b".to_string())]);
        let look = Lookup {
            copy_lists: dir.path(),
            from_lists: dir.path(),
            stage_of_key: &keys,
        };
        let got = own(
            &ing(&[("from-content:b", &a)]),
            &ing(&[("from-content:b", &b)]),
            &look,
        );
        assert_eq!(got[0].text, "/bf from stage b: owner 0:0 -> 1000:0");
        let got = own(
            &ing(&[("from-stage", "ka")]),
            &ing(&[("from-stage", "kb")]),
            &look,
        );
        assert_eq!(got[0].text, "stage b changed");
        let got = own(
            &ing(&[("from-content:b", "x")]),
            &ing(&[("from-content:b", "y")]),
            &look,
        );
        assert_eq!(got[0].text, "the files it copies from stage b changed");
    }

    #[test]
    fn a_large_copy_names_its_changed_files_from_the_kept_lists() {
        use crate::cachekey::KeyBuilder;
        use crate::context::Entry;
        let lists = tempfile::tempdir().unwrap();
        let entries: Vec<Entry> = (0..=files::MANY)
            .map(|i| Entry::file_fixture(&format!("src/f{i:04}")))
            .collect();
        let list = |digests: &[String]| {
            let mut k = KeyBuilder::new("COPY");
            files::add(&mut k, lists.path(), "src", entries.iter().zip(digests));
            k.finish().1
        };
        let mut digests: Vec<String> = entries.iter().map(|_| "file:1".to_string()).collect();
        let old = list(&digests);
        digests[3] = "file:2".into();
        let new = list(&digests);
        let keys = HashMap::new();
        let look = Lookup {
            copy_lists: lists.path(),
            from_lists: lists.path(),
            stage_of_key: &keys,
        };
        let got: Vec<String> = own(&old, &new, &look).into_iter().map(|c| c.text).collect();
        assert_eq!(got, ["file src/f0003: content changed"]);
        // Lists no longer kept: the source is named.
        let gone = tempfile::tempdir().unwrap();
        let look = Lookup {
            copy_lists: gone.path(),
            ..look
        };
        let got: Vec<String> = own(&old, &new, &look).into_iter().map(|c| c.text).collect();
        assert_eq!(got, ["files of src changed"]);
    }

    #[test]
    fn mounts_name_their_stage_and_files() {
        assert_eq!(
            texts(
                &[("mount0:from-stage", "ka")],
                &[("mount0:from-stage", "kb")]
            ),
            ["stage b (mount 1) changed"]
        );
        assert_eq!(
            texts(
                &[("mount0:file:a.txt", "100644 file:1")],
                &[("mount0:file:a.txt", "100644 file:2")]
            ),
            ["mounted file a.txt: content changed"]
        );
    }
}
