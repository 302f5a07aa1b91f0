//! Tells `kiln version` which commit it was built from and when: the
//! commit's short hash and the commit's time (not the build's, so a
//! rebuild of the same commit makes the same binary). `KILN_GIT_COMMIT`
//! and `KILN_BUILD_TIME` set by a packager win (and the Rust version is
//! rustc's); outside a git checkout
//! both are "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=KILN_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=KILN_BUILD_TIME");
    watch_head();
    let commit = std::env::var("KILN_GIT_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "--short=7", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    // Go's time.ANSIC, as Docker prints "Built".
    let time = std::env::var("KILN_BUILD_TIME")
        .ok()
        .or_else(|| {
            git(&[
                "log",
                "-1",
                "--format=%cd",
                "--date=format-local:%a %b %e %H:%M:%S %Y",
            ])
        })
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // "rustc 1.83.0 (90b35a623 2024-11-26)" -> "1.83.0"
    let rust = run(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KILN_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=KILN_RUST_VERSION={rust}");
    println!("cargo:rustc-env=KILN_BUILD_TIME={time}");
}

/// Re-runs when HEAD moves: HEAD itself and the branch file it names.
fn watch_head() {
    let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut files = vec![dir.join("HEAD")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        files.push(dir.join(branch));
    }
    // A path that does not exist would make cargo re-run every build.
    for file in files.iter().filter(|f| f.exists()) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
}

fn git(args: &[&str]) -> Option<String> {
    run("git", args)
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    // Times in UTC whatever the builder's zone.
    let out = Command::new(program)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}
