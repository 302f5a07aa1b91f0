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

// The few libc calls a pty of the test's own needs (the test crate has no
// libc dependency; std links libc already).
#[repr(C)]
struct Winsize {
    rows: u16,
    cols: u16,
    xpixel: u16,
    ypixel: u16,
}

extern "C" {
    fn openpty(
        master: *mut i32,
        slave: *mut i32,
        name: *mut std::ffi::c_char,
        termp: *const std::ffi::c_void,
        winp: *const Winsize,
    ) -> i32;
    fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
    fn setsid() -> i32;
}

const TIOCSCTTY: std::ffi::c_ulong = 0x540E;
const TIOCSWINSZ: std::ffi::c_ulong = 0x5414;

fn size(rows: u16, cols: u16) -> Winsize {
    Winsize {
        rows,
        cols,
        xpixel: 0,
        ypixel: 0,
    }
}

#[test]
fn attach_relays_the_window_size() {
    if !privileged() {
        return;
    }
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::sync::{Arc, Mutex};
    let env = Env::new();
    env.ok(&["run", "-dit", "--name", "sized", "busybox", "sh"]);
    let (mut master, mut slave) = (-1, -1);
    let start = size(24, 80);
    // SAFETY: out-pointers to locals; a winsize we own.
    let r = unsafe {
        openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &start,
        )
    };
    assert_eq!(r, 0, "openpty");
    // SAFETY: openpty returned two new descriptors we now own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = env.kiln.cmd(["attach", "sized"]);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and ioctl only: the pty becomes kiln's controlling
    // terminal, so its resize signals kiln as a user's terminal would.
    unsafe {
        cmd.pre_exec(|| {
            setsid();
            if ioctl(0, TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let seen = Arc::new(Mutex::new(String::new()));
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut typist = std::fs::File::from(master.try_clone().unwrap());
    let shows = |text: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if seen.lock().unwrap().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    std::thread::sleep(Duration::from_millis(700));
    typist.write_all(b"stty size\n").unwrap();
    assert!(shows("24 80"), "the first size: {}", seen.lock().unwrap());
    let bigger = size(40, 120);
    // SAFETY: a winsize we own, on the master we own.
    assert_eq!(unsafe { ioctl(master.as_raw_fd(), TIOCSWINSZ, &bigger) }, 0);
    std::thread::sleep(Duration::from_millis(300));
    typist.write_all(b"stty size\n").unwrap();
    assert!(
        shows("40 120"),
        "after the resize: {}",
        seen.lock().unwrap()
    );
    typist.write_all(b"\x10\x11").unwrap();
    assert!(child.wait().unwrap().success(), "attach did not detach");
    assert_eq!(env.status("sized"), "running");
}

/// A socket address holds 107 bytes of path: a store under a long root
/// still attaches.
#[test]
fn start_attach_and_attach_work_under_a_long_root() {
    if !privileged() {
        return;
    }
    let root = tempfile::Builder::new()
        .prefix(&"long-root-".repeat(10))
        .tempdir()
        .unwrap();
    let k = crate::support::Kiln { root };
    let imported = k
        .cmd(["import"])
        .arg(crate::support::busybox_tar())
        .arg("busybox")
        .output()
        .unwrap();
    assert!(imported.status.success());
    let run = |args: &[&str]| k.cmd(args).stdin(Stdio::null()).output().unwrap();
    run(&[
        "create",
        "--name",
        "a",
        "--network",
        "none",
        "busybox",
        "echo",
        "from-a",
    ]);
    let started = run(&["start", "-a", "a"]);
    assert_eq!(
        String::from_utf8_lossy(&started.stdout),
        "from-a\n",
        "{started:?}"
    );
    let script = "sleep 1; echo from-b";
    run(&[
        "run",
        "-d",
        "--name",
        "b",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let attached = run(&["attach", "b"]);
    assert_eq!(
        String::from_utf8_lossy(&attached.stdout),
        "from-b\n",
        "{attached:?}"
    );
    run(&["rm", "-f", "a", "b"]);
}
