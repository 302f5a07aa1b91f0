//! The same everyday commands against Docker 20.10 (its own daemon) and
//! against kiln: exit codes and the shape of the output (exact text where
//! it is deterministic, table headers, JSON keys) must agree, so that
//! `alias docker=kiln` keeps working.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::dockerd::Dockerd;
use super::support::{kiln_with_busybox, privileged};

/// What of a command's result must agree, beyond its exit code.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Only the exit code.
    Exit,
    /// Standard output, line by line (trailing blanks aside).
    Stdout,
    /// The table's column names.
    Header,
    /// Docker's top-level JSON keys (of the first object) are all there.
    Keys,
    /// One full 64-hex ID on a line of its own.
    Id,
}
use Check::*;

/// The script (`testdata/differential/everyday.txt`): each line's check
/// and arguments.
fn script() -> Vec<(Check, Vec<String>)> {
    let path = super::support::testdata().join("differential/everyday.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(n, l)| {
            let mut words =
                split_words(l).unwrap_or_else(|e| panic!("everyday.txt:{}: {e}", n + 1));
            let check = match words.remove(0).as_str() {
                "exit" => Exit,
                "stdout" => Stdout,
                "header" => Header,
                "keys" => Keys,
                "id" => Id,
                other => panic!("everyday.txt:{}: unknown check {other:?}", n + 1),
            };
            (check, words)
        })
        .collect()
}

/// `line` split into words as a shell would, for quoting only: '…' is
/// literal, "…" takes \ escapes, blanks separate.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unclosed '".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.extend(chars.next()),
                        Some(c) => w.push(c),
                        None => return Err("unclosed \"".into()),
                    }
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if words.len() < 2 {
        return Err("a check and a command are needed".into());
    }
    Ok(words)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn lines(b: &[u8]) -> Vec<String> {
    text(b).lines().map(|l| l.trim_end().to_string()).collect()
}

/// A table header's column names: words separated by two or more blanks.
fn columns(b: &[u8]) -> Vec<String> {
    let text = text(b);
    let header = text.lines().next().unwrap_or("");
    header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

fn keys(b: &[u8]) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_slice(b).map_err(|e| format!("not JSON: {e}"))?;
    let first = v.get(0).unwrap_or(&v);
    let obj = first.as_object().ok_or("no JSON object")?;
    Ok(obj.keys().cloned().collect())
}

fn is_id(b: &[u8]) -> bool {
    let t = text(b);
    let t = t.trim();
    t.len() == 64 && t.bytes().all(|c| c.is_ascii_hexdigit())
}

/// Where the two results disagree, if they do.
fn differ(check: Check, docker: &Output, kiln: &Output) -> Option<String> {
    let code = |o: &Output| o.status.code();
    if code(docker) != code(kiln) {
        return Some(format!("exit {:?} vs {:?}", code(docker), code(kiln)));
    }
    match check {
        Exit => None,
        Stdout => (lines(&docker.stdout) != lines(&kiln.stdout)).then(|| {
            format!(
                "stdout {:?} vs {:?}",
                text(&docker.stdout),
                text(&kiln.stdout)
            )
        }),
        Header => (columns(&docker.stdout) != columns(&kiln.stdout)).then(|| {
            format!(
                "columns {:?} vs {:?}",
                columns(&docker.stdout),
                columns(&kiln.stdout)
            )
        }),
        Keys => match (keys(&docker.stdout), keys(&kiln.stdout)) {
            (Ok(d), Ok(k)) => {
                let missing: Vec<&String> = d.iter().filter(|key| !k.contains(key)).collect();
                (!missing.is_empty()).then(|| format!("kiln lacks keys {missing:?}"))
            }
            (d, k) => Some(format!("JSON: docker {d:?}, kiln {k:?}")),
        },
        Id => (!is_id(&docker.stdout) || !is_id(&kiln.stdout))
            .then(|| format!("IDs {:?} vs {:?}", text(&docker.stdout), text(&kiln.stdout))),
    }
}

fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .expect("running a command")
}

#[test]
fn everyday_commands_agree_with_docker() {
    if !privileged() {
        return;
    }
    let Some(docker) = Dockerd::start() else {
        return;
    };
    let k = kiln_with_busybox();
    // The same image on both sides: kiln's busybox, saved and loaded.
    let saved = run(k.cmd(["save", "busybox"]));
    assert!(saved.status.success(), "save: {}", text(&saved.stderr));
    let mut load = docker.cmd(["load"]);
    load.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = load.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &saved.stdout).unwrap();
    assert!(
        child.wait_with_output().unwrap().status.success(),
        "docker load"
    );

    let script = script();
    let mut report = Vec::new();
    for (check, args) in &script {
        let d = run(docker.cmd(args));
        let kn = run(k.cmd(args));
        if let Some(why) = differ(*check, &d, &kn) {
            report.push(format!(
                "{}: {why}\n  docker stderr: {}\n  kiln stderr: {}",
                args.join(" "),
                text(&d.stderr).trim(),
                text(&kn.stderr).trim()
            ));
        }
    }
    assert!(
        report.is_empty(),
        "{} of {} commands differ from docker:\n{}",
        report.len(),
        script.len(),
        report.join("\n")
    );
}

#[test]
fn script_lines_split_as_a_shell_would() {
    let words = split_words(r#"stdout a 'b c' "d\"e" f'g h'"#).unwrap();
    assert_eq!(words, ["stdout", "a", "b c", "d\"e", "fg h"]);
    assert!(split_words("stdout 'x").is_err());
    assert!(split_words("stdout").is_err());
    let script = script();
    assert!(script.len() > 80, "{} commands", script.len());
    let ps = script
        .iter()
        .find(|(_, a)| a[0] == "ps" && a.len() == 3)
        .unwrap();
    assert_eq!(
        ps.1[2],
        "{{.Names}} {{.Image}} {{.Command}} {{.Label \"k\"}}"
    );
}
