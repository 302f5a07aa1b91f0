//! `alias docker=kiln`: Docker's exit codes and wording for usage errors,
//! switches given `=true`/`=false`, `cp` to and from a tar stream (an
//! untrusted one included), and the management command forms.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::{kiln_with_busybox, privileged, raw_tar_header, Kiln, TarMagic};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn out(k: &Kiln, args: &[&str]) -> Output {
    k.cmd(args).output().expect("kiln")
}

fn ok(k: &Kiln, args: &[&str]) -> String {
    let o = out(k, args);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

/// `cmd` with `input` on its stdin.
fn fed(mut cmd: Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kiln");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn unknown_flags_and_commands_are_docker_usage_errors() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let bogus = out(&k, &["run", "--rm", "--bogus", "busybox", "true"]);
    assert_eq!(bogus.status.code(), Some(125));
    assert!(
        text(&bogus.stderr).contains("'--bogus'"),
        "{}",
        text(&bogus.stderr)
    );
    assert!(!text(&bogus.stderr).contains("no such image"));
    // after the image, flags are the command's
    assert!(ok(&k, &["run", "--rm", "busybox", "ls", "-la", "/"]).contains("bin"));

    let foo = out(&k, &["foo"]);
    assert_eq!(foo.status.code(), Some(1));
    assert_eq!(
        text(&foo.stderr),
        "kiln: 'foo' is not a kiln command.\nSee 'kiln --help'\n"
    );
}

#[test]
fn switches_take_true_and_false() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    ok(
        &k,
        &["run", "--rm=false", "--name", "kept", "busybox", "true"],
    );
    assert!(ok(&k, &["ps", "-a=true"]).contains("kept"));
    ok(
        &k,
        &["run", "--rm=true", "--name", "gone", "busybox", "true"],
    );
    assert!(!ok(&k, &["ps", "-a"]).contains("gone"));

    let ro = out(
        &k,
        &["run", "--rm", "--read-only=true", "busybox", "touch", "/x"],
    );
    assert!(!ro.status.success(), "a read-only root took a write");
    assert!(
        text(&ro.stderr).contains("Read-only file system"),
        "{}",
        text(&ro.stderr)
    );
    ok(
        &k,
        &["run", "--rm", "--read-only=false", "busybox", "touch", "/x"],
    );
    // -d=false runs in the foreground; -t=false keeps stdout a pipe
    let hi = ok(
        &k,
        &[
            "run", "--rm", "-d=false", "-t=false", "busybox", "echo", "hi",
        ],
    );
    assert_eq!(hi, "hi\n");
    assert_eq!(
        out(&k, &["run", "--rm=maybe", "busybox"]).status.code(),
        Some(125)
    );
}

#[test]
fn cp_streams_a_directory_out_and_in_as_tar() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let make = "mkdir -p /data/sub && echo hi > /data/sub/f && chmod 751 /data/sub/f \
                && chmod 700 /data/sub && ln -s /etc/passwd /data/link";
    ok(&k, &["run", "--name", "src", "busybox", "sh", "-c", make]);
    let tar = k.cmd(["cp", "src:/data", "-"]).output().unwrap();
    assert!(tar.status.success(), "{}", text(&tar.stderr));
    assert!(tar.stdout.len() >= 1024 && tar.stdout.len().is_multiple_of(512));

    let show = "stat -c '%a %n' /tmp/data/sub /tmp/data/sub/f; readlink /tmp/data/link; \
                cat /tmp/data/sub/f";
    ok(
        &k,
        &["create", "--name", "dst", "busybox", "sh", "-c", show],
    );
    let put = fed(k.cmd(["cp", "-", "dst:/tmp"]), &tar.stdout);
    assert!(put.status.success(), "{}", text(&put.stderr));
    assert_eq!(
        ok(&k, &["start", "-a", "dst"]),
        "700 /tmp/data/sub\n751 /tmp/data/sub/f\n/etc/passwd\nhi\n"
    );
}

/// One ustar entry: `kind` b'0' file, b'2' symlink.
fn entry(name: &str, kind: u8, link: &str, data: &[u8]) -> Vec<u8> {
    let h = raw_tar_header(
        name.as_bytes(),
        kind,
        link.as_bytes(),
        data.len() as u64,
        TarMagic::Ustar,
    );
    let mut e = h.to_vec();
    e.extend_from_slice(data);
    e.resize(e.len().div_ceil(512) * 512, 0);
    e
}

fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut a = entries.concat();
    a.extend_from_slice(&[0u8; 1024]);
    a
}

#[test]
fn a_hostile_tar_never_writes_outside_the_directory() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let host = tempfile::tempdir().unwrap();
    let outside = host.path().to_str().unwrap();
    ok(&k, &["create", "--name", "c", "busybox", "ls", "/"]);

    let climb = archive(&[entry("../escape", b'0', "", b"pwned")]);
    let o = fed(k.cmd(["cp", "-", "c:/tmp"]), &climb);
    assert!(!o.status.success(), "an entry climbing out was taken");
    assert!(
        text(&o.stderr).contains("outside the destination"),
        "{}",
        text(&o.stderr)
    );

    let through = archive(&[
        entry("abs", b'2', outside, b""),
        entry("abs/pwned", b'0', "", b"pwned"),
    ]);
    let o = fed(k.cmd(["cp", "-", "c:/tmp"]), &through);
    assert!(
        !o.status.success(),
        "a file was written through a planted link"
    );
    assert!(
        text(&o.stderr).contains("symbolic link"),
        "{}",
        text(&o.stderr)
    );
    assert!(!host.path().join("pwned").exists());
    assert!(!ok(&k, &["start", "-a", "c"]).lines().any(|l| l == "escape"));
}

/// A table's rows as their cells (split at runs of two or more blanks),
/// relative times ("… ago") left out.
fn without_ages(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|row| {
            row.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty() && !cell.ends_with(" ago"))
                .map(String::from)
                .collect()
        })
        .collect()
}

#[test]
fn management_forms_give_what_the_plain_commands_give() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    ok(&k, &["create", "--name", "one", "busybox", "true"]);
    // The two listings run a moment apart, so a relative CREATED cell
    // ("Less than a second ago", "1 second ago") may differ between them.
    let table = |args: &[&str]| without_ages(&ok(&k, args));
    assert_eq!(table(&["image", "ls"]), table(&["images"]));
    assert_eq!(table(&["container", "ls", "-a"]), table(&["ps", "-a"]));
    assert_eq!(ok(&k, &["builder", "du"]), ok(&k, &["cache", "du"]));

    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("f"), "f").unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
    let dir = ctx.path().to_str().unwrap();
    let plain = ok(&k, &["build", "-q", dir]);
    assert!(plain.starts_with("sha256:"), "{plain}");
    assert_eq!(ok(&k, &["buildx", "build", "--load", "-q", dir]), plain);
}

#[test]
fn help_lists_the_commands_own_flags_before_the_global_ones() {
    let k = Kiln::new();
    for command in [
        &["run"][..],
        &["image", "ls"],
        &["network", "inspect"],
        &["build"],
    ] {
        let help = ok(&k, &[command, &["--help"]].concat());
        let own = help.find("\nOptions:").unwrap_or_else(|| panic!("{help}"));
        let global = help
            .find("\nGlobal Options:")
            .unwrap_or_else(|| panic!("{help}"));
        let root = help.find("--root <ROOT>").unwrap();
        assert!(own < global && global < root, "{command:?}:\n{help}");
        assert!(help[own..global].contains("--help"), "{command:?}:\n{help}");
    }
}
