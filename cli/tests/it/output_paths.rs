//! `-o PATH` of `save` and `export`: a device at the path is refused and
//! left as it is, as Docker refuses it (as root, replacing or removing
//! /dev/null broke the machine); a FIFO is written into; a regular file
//! appears only when whole.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use super::support::{kiln_with_busybox, privileged};

fn null_device(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("null");
    let dev = nix::sys::stat::makedev(1, 3);
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
    nix::sys::stat::mknod(&path, nix::sys::stat::SFlag::S_IFCHR, mode, dev).unwrap();
    path
}

#[test]
fn a_device_at_the_output_path_is_refused_and_left_alone() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let null = null_device(dir.path());
    let created = k
        .cmd(["create", "--name", "c", "busybox", "true"])
        .output()
        .unwrap();
    assert!(created.status.success());
    for (command, target) in [("save", "busybox"), ("export", "c"), ("export", "nosuch")] {
        let out = k
            .cmd([command, "-o"])
            .arg(&null)
            .arg(target)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{command} {target}");
        let err = String::from_utf8_lossy(&out.stderr);
        if target != "nosuch" {
            assert!(
                err.contains("must be a directory or a regular file: got a device"),
                "{err}"
            );
        }
        let kind = std::fs::metadata(&null).unwrap().file_type();
        assert!(kind.is_char_device(), "{command} replaced the device");
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 1, "{command} left a temporary file");
    }
}

#[test]
fn a_fifo_at_the_output_path_receives_the_archive() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = k
        .cmd(["save", "-o"])
        .arg(&fifo)
        .arg("busybox")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = reader.join().unwrap();
    // A tar archive: ustar magic at offset 257 of the first header.
    assert!(
        bytes.len() > 1024 && &bytes[257..262] == b"ustar",
        "{} bytes",
        bytes.len()
    );
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}
