//! `-t` under a real terminal: `script` gives kiln a pty for its stdio,
//! types what a test gives it, and passes on kiln's exit status, as a
//! person at a terminal would see it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use super::{privileged, Env};

/// `kiln ARGS` inside `script`, with `typed` as what is typed at its
/// terminal.
pub(super) fn at_terminal(env: &Env, args: &[&str], typed: &str) -> Output {
    let kiln = env.kiln.cmd(args);
    let words: Vec<String> = kiln
        .get_args()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let line = format!("{:?} {}", kiln.get_program(), words.join(" "));
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1), from util-linux");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn exec_t_gets_a_terminal_and_the_commands_status() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "60"]);
    let o = at_terminal(&env, &["exec", "-t", "up", "sh", "-c", "tty; exit 3"], "");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("/dev/pts/"), "{}", text(&o));
    assert!(!text(&o).contains("EPERM"), "{}", text(&o));
    let o = at_terminal(
        &env,
        &["exec", "-it", "up", "sh"],
        "echo $((6*7)); exit 4\n",
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("42"), "{}", text(&o));
}

#[test]
fn run_it_reads_what_is_typed() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let o = at_terminal(
        &env,
        &["run", "--rm", "-it", "busybox", "sh"],
        "tty; exit 6\n",
    );
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(text(&o).contains("/dev/pts/0"), "{}", text(&o));
}
