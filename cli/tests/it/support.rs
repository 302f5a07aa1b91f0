//! The one helper every end-to-end test uses: the real binary, a fresh root.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary kiln root and a way to run the binary against it.
pub struct Kiln {
    pub root: tempfile::TempDir,
}

#[allow(dead_code)]
impl Kiln {
    pub fn new() -> Kiln {
        Kiln {
            root: tempfile::tempdir().expect("temp root"),
        }
    }

    /// `kiln --root ROOT ARGS…`, ready to run.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(bin());
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

/// The path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kiln"))
}

/// The repository's testdata folder.
#[allow(dead_code)]
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// True when the test may use root-only features (mounts, namespaces,
/// cgroups, device nodes). Without root a test fails loudly, unless the
/// person running it opted out with KILN_SKIP_PRIVILEGED=1.
pub fn privileged() -> bool {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    if std::env::var("KILN_SKIP_PRIVILEGED").as_deref() == Ok("1") {
        eprintln!("skipped {test}: needs root (KILN_SKIP_PRIVILEGED=1)");
        return false;
    }
    panic!("{test} needs root; set KILN_SKIP_PRIVILEGED=1 to skip it");
}
