//! `kiln attach` through a real terminal (util-linux `script` gives the
//! client a pty), and `start -a -i` with piped stdin.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{privileged, Env};

#[test]
fn attach_types_into_a_tty_container_and_detaches_with_ctrl_p_ctrl_q() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-dit", "--name", "term", "busybox", "sh"]);
    let kiln = env.kiln.cmd(["attach", "term"]);
    let line = format!("{:?} {}", kiln.get_program(), shell_args(&kiln));
    let mut script = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = script.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    stdin.write_all(b"echo marker-$((40+2))\n").unwrap();
    std::thread::sleep(Duration::from_millis(700));
    stdin.write_all(b"\x10\x11").unwrap();
    let out = script.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("marker-42"), "no command output:\n{text}");
    assert!(
        out.status.success(),
        "attach did not detach cleanly:\n{text}"
    );
    assert_eq!(env.status("term"), "running", "detaching stopped it");
}

/// The command's arguments, quoted for `script -c`'s shell.
fn shell_args(cmd: &Command) -> String {
    cmd.get_args()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn start_attach_interactive_feeds_stdin() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "create",
        "-i",
        "--name",
        "reader",
        "busybox",
        "sh",
        "-c",
        "read line; echo got:$line; echo err:$line >&2; exit 3",
    ]);
    let mut child = env
        .kiln
        .cmd(["start", "-a", "-i", "reader"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got:hello\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err:hello"));
    assert_eq!(out.status.code(), Some(3), "the container's exit status");
}
