//! What a person sees in a terminal: kiln driven under tmux (Debian's
//! `tmux`, installed from testdata/apt-packages.txt) at 80 and 200
//! columns, the pane captured once the command is done. The checks are a
//! person's: one line per layer in its final state, no line left behind by
//! a redraw, table columns that do not run into each other.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::support::{kiln_with_busybox, privileged, Kiln};

const DONE: &str = "__screen_done__";

/// A tmux server of its own (its own socket) with one detached session of a
/// fixed size; killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `script` (a shell command line) in a fresh window `width`
    /// columns wide; the window stays open after it, showing its output.
    fn start(width: usize, height: usize, script: &str) -> Tmux {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "tmux is not installed: apt-get install tmux (testdata/apt-packages.txt lists it)"
        );
        let socket = format!(
            "kiln-screen-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let tmux = Tmux { socket };
        let line = format!("{script}; echo {DONE} $?; sleep 3600");
        let out = tmux
            .cmd()
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "t"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(line)
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
        tmux
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]).stdin(Stdio::null());
        cmd
    }

    /// The pane with its scrollback, wrapped lines joined (`-J`), as the
    /// logical lines that were written.
    fn capture(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", "t"])
            .output()
            .unwrap();
        assert!(out.status.success(), "capture-pane: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Waits for the script to end; the captured pane without the marker.
    fn wait(&self, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let pane = self.capture();
            if let Some(at) = pane.find(DONE) {
                let status = pane[at + DONE.len()..].split_whitespace().next();
                assert_eq!(status, Some("0"), "the command failed:\n{pane}");
                return pane[..at].trim_end().to_string();
            }
            assert!(
                start.elapsed() < timeout,
                "not done after {timeout:?}:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `s` quoted for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command line that runs `kiln --root ROOT ARGS…` with `env` set.
fn kiln_line(kiln: &Kiln, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut words = vec!["env".to_string()];
    words.extend(env.iter().map(|(k, v)| sh_quote(&format!("{k}={v}"))));
    words.push(sh_quote(super::support::bin().to_str().unwrap()));
    words.push("--root".into());
    words.push(sh_quote(kiln.root().to_str().unwrap()));
    words.extend(args.iter().map(|a| sh_quote(a)));
    words.join(" ")
}

fn ok(kiln: &Kiln, args: &[&str]) -> String {
    let out = kiln.cmd(args).stdin(Stdio::null()).output().unwrap();
    assert_ok(args, &out);
    text(&out.stdout)
}

fn assert_ok(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "kiln {args:?} failed: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
}

/// Lines that appear more than once (blank ones aside).
fn repeated(lines: &[&str]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !seen.insert(l.trim_end()))
        .map(|l| l.to_string())
        .collect()
}

/// The columns of a table under `header`: where each header word starts
/// (a header cell is words separated by single spaces).
fn column_starts(header: &str, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| {
            header
                .find(n)
                .unwrap_or_else(|| panic!("no {n:?} in {header:?}"))
        })
        .collect()
}

/// The cells of `row` under columns starting at `starts`, asserting that
/// each cell ends in Docker's three spaces of padding before the next
/// column starts: a cell that ran into the next column would not.
fn cells(row: &str, starts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = row.chars().collect();
    let mut out = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(chars.len());
        assert!(
            chars.len() >= start,
            "row too short for its columns: {row:?}"
        );
        let cell: String = chars[start..end.min(chars.len())].iter().collect();
        if i + 1 < starts.len() {
            assert!(
                cell.ends_with("   "),
                "column {i} runs into the next one in {row:?}"
            );
            assert!(
                start == 0 || chars[start - 1] == ' ',
                "column {i} does not start at its header in {row:?}"
            );
        }
        out.push(cell.trim().to_string());
    }
    out
}

#[test]
fn ps_a_columns_fit_their_content_at_80_and_200_columns() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    struct Cleanup<'a>(&'a Kiln);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.0.cmd(["rm", "-f", "killed", "running"]).output();
        }
    }
    let _cleanup = Cleanup(&k);
    ok(
        &k,
        &["run", "-d", "--name", "killed", "busybox", "sleep", "1000"],
    );
    ok(&k, &["kill", "killed"]);
    let long_name = "a-container-with-a-name-longer-than-any-column";
    let out = k
        .cmd(["run", "--name", long_name, "busybox", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    ok(
        &k,
        &[
            "run",
            "-d",
            "--name",
            "running",
            "busybox",
            "sh",
            "-c",
            "sleep 1000; echo a command longer than twenty characters",
        ],
    );
    ok(&k, &["create", "--name", "created", "busybox"]);

    let names = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    for width in [80, 200] {
        let tmux = Tmux::start(width, 40, &kiln_line(&k, &[], &["ps", "-a"]));
        let pane = tmux.wait(Duration::from_secs(30));
        eprintln!("ps -a at {width} columns:\n{pane}");
        let lines: Vec<&str> = pane.lines().collect();
        assert!(repeated(&lines).is_empty(), "repeated lines:\n{pane}");
        let at = lines
            .iter()
            .position(|l| l.starts_with("CONTAINER ID"))
            .unwrap_or_else(|| panic!("no header at {width} columns:\n{pane}"));
        let starts = column_starts(lines[at], &names);
        let rows: Vec<Vec<String>> = lines[at + 1..]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| cells(l, &starts))
            .collect();
        assert_eq!(rows.len(), 4, "four containers at {width} columns:\n{pane}");
        let row = |name: &str| {
            rows.iter()
                .find(|r| r[6] == name)
                .unwrap_or_else(|| panic!("no row named {name} at {width} columns:\n{pane}"))
        };
        assert!(row("killed")[4].starts_with("Exited (137) "), "{pane}");
        assert!(row(long_name)[4].starts_with("Exited (3) "), "{pane}");
        assert!(row("running")[4].starts_with("Up "), "{pane}");
        assert_eq!(row("created")[4], "Created", "{pane}");
        // Docker cuts the command at 20 characters, quoted, and nothing else.
        let command = &row("running")[2];
        assert!(
            command.starts_with("\"sh -c ") && command.ends_with("…\""),
            "{pane}"
        );
        assert_eq!(command.chars().count(), 22, "{pane}");
        assert_eq!(row("running")[1], "busybox", "{pane}");
        for r in &rows {
            assert_eq!(r[0].len(), 12, "a short ID in {r:?}");
        }
        // The same table as through a pipe: the terminal changes nothing.
        let piped = ok(&k, &["ps", "-a"]);
        let piped: Vec<&str> = piped.lines().collect();
        assert_eq!(piped[0], lines[at], "{pane}");
        assert_eq!(piped.len(), 5);
    }
}
