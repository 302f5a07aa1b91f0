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

/// The script: each command runs against both, in order.
const SCRIPT: &[(&[&str], Check)] = &[
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "echo",
            "hello",
        ],
        Stdout,
    ),
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "exit 3",
        ],
        Stdout,
    ),
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "busybox",
            "sh",
            "-c",
            "echo $A $PWD",
        ],
        Stdout,
    ),
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-u",
            "1000:1000",
            "busybox",
            "id",
        ],
        Stdout,
    ),
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "echo",
            "busybox",
            "hi",
        ],
        Stdout,
    ),
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--hostname",
            "h1",
            "busybox",
            "hostname",
        ],
        Stdout,
    ),
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-u",
            "nobody",
            "-w",
            "/new/dir",
            "busybox",
            "sh",
            "-c",
            "id -u; pwd",
        ],
        Stdout,
    ),
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "busybox",
            "touch",
            "/x",
        ],
        Exit,
    ),
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "no-such-command",
        ],
        Exit,
    ),
    (
        &["run", "--rm", "--network", "none", "busybox", "/etc"],
        Exit,
    ),
    (
        &["run", "--rm", "--pull", "never", "no-such-image:1", "true"],
        Exit,
    ),
    (
        &[
            "run",
            "--name",
            "r1",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo done; mkdir /tmp/d; echo > /tmp/d/x",
        ],
        Stdout,
    ),
    (&["logs", "r1"], Stdout),
    (&["logs", "--tail", "1", "r1"], Stdout),
    (
        &[
            "ps",
            "-a",
            "--filter",
            "name=r1",
            "--format",
            "{{.Names}} {{.State}}",
        ],
        Stdout,
    ),
    (
        &[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}",
        ],
        Stdout,
    ),
    (
        &[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.State.Running}}",
            "r1",
        ],
        Stdout,
    ),
    (&["diff", "r1"], Stdout),
    (&["pause", "r1"], Exit),
    (&["start", "no-such-container"], Exit),
    (&["rm", "r1"], Stdout),
    (&["run", "--rm", "--bogus", "busybox", "true"], Exit),
    (&["frobnicate"], Exit),
    (
        &[
            "create",
            "--name",
            "c1",
            "--network",
            "none",
            "--label",
            "k=v",
            "busybox",
            "sleep",
            "1000",
        ],
        Id,
    ),
    (&["start", "c1"], Stdout),
    (
        &[
            "ps",
            "--format",
            "{{.Names}} {{.Image}} {{.Command}} {{.Label \"k\"}}",
        ],
        Stdout,
    ),
    (&["ps"], Header),
    (
        &["ps", "-a", "--format", "table {{.Names}}\t{{.Image}}"],
        Stdout,
    ),
    (&["inspect", "c1"], Keys),
    (
        &[
            "inspect",
            "-f",
            "{{.Name}} {{.State.Status}} {{.Config.Cmd}} {{.Config.Labels.k}}",
            "c1",
        ],
        Stdout,
    ),
    (&["exec", "c1", "echo", "inside"], Stdout),
    (&["exec", "c1", "sh", "-c", "exit 4"], Stdout),
    (&["exec", "-w", "/etc", "c1", "pwd"], Stdout),
    (
        &[
            "exec",
            "-u",
            "1000",
            "-e",
            "X=1",
            "c1",
            "sh",
            "-c",
            "id -u; echo $X",
        ],
        Stdout,
    ),
    (
        &[
            "info",
            "--format",
            "{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}}",
        ],
        Stdout,
    ),
    (&["kill", "-s", "USR1", "c1"], Stdout),
    (&["logs", "c1"], Stdout),
    (&["top", "c1"], Header),
    (&["pause", "c1"], Stdout),
    (
        &["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "c1"],
        Stdout,
    ),
    (&["unpause", "c1"], Stdout),
    (&["stop", "-t", "1", "c1"], Stdout),
    (&["wait", "c1"], Stdout),
    (
        &[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "c1",
        ],
        Stdout,
    ),
    (&["rename", "c1", "c2"], Stdout),
    (&["rm", "c2"], Stdout),
    (&["rm", "c2"], Exit),
    (&["inspect", "nosuchthing"], Stdout),
    (&["create", "--name", "f1", "busybox", "true"], Id),
    (&["cp", "f1:/etc/passwd", "-"], Exit),
    (&["export", "-o", "/dev/null", "f1"], Stdout),
    (&["rm", "-v", "f1"], Stdout),
    (&["images"], Header),
    (&["images", "-q", "busybox"], Stdout),
    (&["image", "inspect", "-f", "{{.Id}}", "busybox"], Stdout),
    (
        &["history", "--format", "{{.CreatedBy}}", "busybox"],
        Stdout,
    ),
    (&["create", "--name", "u1", "busybox", "true"], Id),
    (&["rmi", "busybox"], Exit),
    (&["rm", "u1"], Stdout),
    (&["system", "df"], Header),
    (&["images", "--format", "{{.Repository}}:{{.Tag}}"], Stdout),
    (&["tag", "busybox", "busybox:two"], Stdout),
    (
        &["images", "--format", "{{.Repository}} {{.Tag}}", "busybox"],
        Stdout,
    ),
    (&["rmi", "busybox:two"], Stdout),
    (
        &[
            "image",
            "inspect",
            "-f",
            "{{.Os}} {{.Architecture}} {{.Config.Cmd}}",
            "busybox",
        ],
        Stdout,
    ),
    (&["image", "inspect", "busybox"], Keys),
    (&["history", "busybox"], Header),
    (&["rmi", "nosuchimage:1"], Exit),
    (&["volume", "create", "v1"], Stdout),
    (
        &["volume", "ls", "--format", "{{.Name}} {{.Driver}}"],
        Stdout,
    ),
    (&["volume", "ls"], Header),
    (&["volume", "inspect", "v1"], Keys),
    (
        &[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Scope}}",
            "v1",
        ],
        Stdout,
    ),
    (
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "v1:/data",
            "busybox",
            "sh",
            "-c",
            "echo x > /data/f; cat /data/f",
        ],
        Stdout,
    ),
    (&["volume", "rm", "v1"], Stdout),
    (&["volume", "rm", "v1"], Exit),
    (&["network", "create", "n1"], Id),
    (
        &[
            "network",
            "ls",
            "--filter",
            "name=n1",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}}",
        ],
        Stdout,
    ),
    (&["network", "inspect", "n1"], Keys),
    (
        &[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}}",
            "n1",
        ],
        Stdout,
    ),
    (&["network", "inspect", "no-such-network"], Stdout),
    (&["network", "rm", "n1"], Stdout),
    (
        &[
            "info",
            "--format",
            "{{.OSType}} {{.Driver}} {{.CgroupDriver}}",
        ],
        Stdout,
    ),
    (
        &["version", "--format", "{{.Client.Os}} {{.Client.Arch}}"],
        Stdout,
    ),
];

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

    let mut report = Vec::new();
    for (args, check) in SCRIPT {
        let d = run(docker.cmd(*args));
        let kn = run(k.cmd(*args));
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
        SCRIPT.len(),
        report.join("\n")
    );
}
