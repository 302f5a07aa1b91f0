//! `--device` with a block device: a loop device over a small file is made
//! in the container's /dev as a block node, read and written through it,
//! and its `:r` access is the device cgroup's to enforce.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{kiln_with_busybox, ok, privileged, run};

/// A loop device over a 1 MiB file starting with "hello"; both go on drop.
struct Loop {
    device: String,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Loop {
    fn new() -> Loop {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk.img");
        let mut content = b"hello".to_vec();
        content.resize(1 << 20, 0);
        std::fs::write(&file, content).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .expect("losetup");
        assert!(out.status.success(), "losetup: {out:?}");
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Loop {
            device,
            file,
            _dir: dir,
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
    }
}

#[test]
fn a_block_device_is_read_and_written_through_its_node() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let disk = Loop::new();
    let mapping = format!("{}:/dev/xdisk", disk.device);
    let out = ok(
        &k,
        &[
            "run",
            "--rm",
            "--device",
            &mapping,
            "busybox",
            "sh",
            "-c",
            "test -b /dev/xdisk && head -c 5 /dev/xdisk && echo && \
             printf WORLD | dd of=/dev/xdisk bs=5 count=1 conv=notrunc,fsync 2>/dev/null",
        ],
    );
    assert_eq!(out, "hello\n");
    let written = std::fs::read(&disk.file).unwrap();
    assert_eq!(
        &written[..5],
        b"WORLD",
        "the write did not reach the device"
    );

    // Read-only access: the read works, the open for writing is refused.
    let read_only = format!("{mapping}:r");
    let out = run(
        &k,
        &[
            "run",
            "--rm",
            "--device",
            &read_only,
            "busybox",
            "sh",
            "-c",
            "head -c 5 /dev/xdisk; echo; echo x > /dev/xdisk",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "WORLD\n");
    assert!(!out.status.success(), "a write through :r succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
}

#[test]
fn a_device_flag_naming_no_device_is_refused() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let out = run(
        &k,
        &[
            "run",
            "--rm",
            "--device",
            "/etc/passwd:/dev/x",
            "busybox",
            "true",
        ],
    );
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--device") && stderr.contains("not a device node"),
        "{stderr}"
    );
}
