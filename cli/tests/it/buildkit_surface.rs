//! `kiln build`'s BuildKit surface beyond the core (issue 9): RUN mounts
//! and secrets, outputs and metadata, reproducible builds, lint during
//! builds. Each module builds cases of testdata/build on a busybox base
//! and checks what a user sees. Privileged: run as root, or set
//! KILN_SKIP_PRIVILEGED=1 to skip.

mod add_remote;
mod contexts;
mod copy_flags;
mod mounts;
mod named_contexts;
mod outputs;
mod platform;
mod prune_filter;

use std::path::{Path, PathBuf};
use std::process::Output;

pub use crate::support::{kiln_with_busybox, privileged};
use crate::support::{testdata, Kiln};

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A case folder of testdata/build.
pub fn case(name: &str) -> PathBuf {
    testdata().join("build").join(name)
}

/// `kiln build --progress=plain FLAGS… DIR`.
pub fn build(k: &Kiln, dir: &Path, flags: &[&str]) -> Output {
    k.cmd(["build", "--progress=plain"])
        .args(flags)
        .arg(dir)
        .output()
        .expect("kiln build")
}

/// A build that must succeed: (image ID, stderr).
pub fn build_ok(k: &Kiln, dir: &Path, flags: &[&str]) -> (String, String) {
    let out = build(k, dir, flags);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "build of {} failed:\n{stderr}",
        dir.display()
    );
    let id = text(&out.stdout).trim().to_string();
    (id, stderr)
}

pub use crate::support::run_sh;

/// Names of the steps a plain-progress log shows as CACHED.
pub fn cached_steps(stderr: &str) -> Vec<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.ends_with(" CACHED") {
            let num = l.split_whitespace().next().unwrap_or("");
            if let Some(name) = lines[..i]
                .iter()
                .rev()
                .find(|p| p.starts_with(&format!("{num} [")))
            {
                out.push(name.to_string());
            }
        }
    }
    out
}
