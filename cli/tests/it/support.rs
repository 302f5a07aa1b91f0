//! The one helper every end-to-end test uses: the real binary, a fresh root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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

/// Debian's docker-registry on 127.0.0.1 (testdata/scripts/registry.sh),
/// with htpasswd auth when `auth` names a user and password; stopped when
/// dropped.
#[allow(dead_code)]
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub addr: String,
}

#[allow(dead_code)]
impl Registry {
    pub fn start(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(testdata().join("scripts/registry.sh"));
        cmd.arg("start").arg(dir.path());
        if let Some((user, password)) = auth {
            cmd.args([user, password]);
        }
        let out = cmd.output().expect("registry.sh");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(out.status.success(), "registry.sh: {}", text(&out.stderr));
        let addr = text(&out.stdout).trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Registry { dir, addr }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new(testdata().join("scripts/registry.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// An HTTP request head as a forwarding test proxy sends it on: its own
/// `Connection` header replaced by `close`, so the response ends with the
/// connection.
#[allow(dead_code)]
pub fn one_shot_request(head: &str) -> String {
    let kept: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n"))
}

/// An HTTP server on the host's 127.0.0.1 answering every request with
/// `body` (a service a container or RUN step must or must not reach); its
/// port. It lives as long as the test process.
#[allow(dead_code)]
pub fn loopback_http_server(body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A busybox rootfs made once per test process from Debian's busybox-static.
/// Tests run containers from it in place, so it may gain the empty /etc
/// mount points a `--rootfs` run leaves, as runc leaves them.
pub fn busybox_rootfs() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| make_busybox_rootfs(&scratch_dir().join("rootfs")))
}

/// A directory that outlives the test that made it (shared fixtures).
fn scratch_dir() -> PathBuf {
    tempfile::Builder::new()
        .prefix("kiln-busybox-")
        .tempdir()
        .expect("temp dir")
        .keep()
}

/// Makes a fresh busybox rootfs at `dest` with
/// testdata/scripts/make-busybox-rootfs.sh.
#[allow(dead_code)]
pub fn make_busybox_rootfs(dest: &Path) -> PathBuf {
    let script = testdata().join("scripts/make-busybox-rootfs.sh");
    let status = Command::new("sh")
        .arg(script)
        .arg(dest)
        .status()
        .expect("running make-busybox-rootfs.sh");
    assert!(
        status.success(),
        "make-busybox-rootfs.sh failed (is busybox-static installed?)"
    );
    dest.to_path_buf()
}

/// The busybox rootfs as a tar with numeric owners, made once per process.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        // Its own pristine rootfs: the shared one may hold mount stubs.
        let dir = scratch_dir();
        let root = make_busybox_rootfs(&dir.join("rootfs"));
        let tar = dir.join("busybox.tar");
        let ok = Command::new("tar")
            .args(["--numeric-owner", "-C"])
            .arg(root)
            .args(["-cf"])
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar")
            .success();
        assert!(ok, "taring the busybox rootfs failed");
        tar
    })
}

/// A fresh root with the busybox rootfs imported as `busybox` (CMD sh).
pub fn kiln_with_busybox() -> Kiln {
    let k = Kiln::new();
    let out = k
        .cmd(["import"])
        .arg(busybox_tar())
        .args(["busybox", "--change", "CMD [\"sh\"]"])
        .output()
        .expect("kiln import");
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    k
}

/// `kiln run --rm IMAGE sh -c SCRIPT`, trimmed stdout; fails on a non-zero exit.
pub fn run_sh(k: &Kiln, image: &str, script: &str) -> String {
    let out = k
        .cmd(["run", "--rm", image, "sh", "-c", script])
        .output()
        .expect("kiln run");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "run {script:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

/// The magic a hand-made tar header carries: GNU tar's (`ustar  \0`) or
/// POSIX ustar's (`ustar\0` and version `00`).
#[derive(Clone, Copy)]
pub enum TarMagic {
    Gnu,
    Ustar,
}

/// A tar header block written byte by byte, as an attacker would write
/// one (tar writers refuse `../` names): mode 0644, owner 0:0, time 0,
/// numeric fields in octal, the checksum set.
pub fn raw_tar_header(name: &[u8], kind: u8, link: &[u8], size: u64, magic: TarMagic) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[157..157 + link.len()].copy_from_slice(link);
    let mut field = |at: usize, len: usize, value: u64| {
        let text = format!("{value:0width$o}\0", width = len - 1);
        h[at..at + len].copy_from_slice(text.as_bytes());
    };
    field(100, 8, 0o644);
    field(108, 8, 0);
    field(116, 8, 0);
    field(124, 12, size);
    field(136, 12, 0);
    h[156] = kind;
    match magic {
        TarMagic::Gnu => h[257..265].copy_from_slice(b"ustar  \0"),
        TarMagic::Ustar => h[257..265].copy_from_slice(b"ustar\x0000"),
    }
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// `kiln ARGS…` run to its end with stdin from /dev/null.
#[allow(dead_code)]
/// A finished command's stdout then stderr, for an assertion's message.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn run(k: &Kiln, args: &[&str]) -> std::process::Output {
    k.cmd(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("kiln")
}

/// Standard output of a command that must succeed.
#[allow(dead_code)]
pub fn ok(k: &Kiln, args: &[&str]) -> String {
    let out = run(k, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the named containers (`rm -f`) when dropped, whatever the
/// test's outcome, so no monitor outlives it.
#[allow(dead_code)]
pub struct Cleanup<'k>(pub &'k Kiln, pub &'static [&'static str]);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let mut args = vec!["rm", "-f"];
        args.extend(self.1);
        let _ = self.0.cmd(&args).output();
    }
}

/// Makes `/dev/net/tun` readable and writable by everyone, as distributions
/// ship it (this host's is 0600): the private network of a kiln run by an
/// ordinary user (rootless, the runner image's user) opens it as that user.
#[allow(dead_code)]
pub fn open_tun_to_users() {
    use std::os::unix::fs::PermissionsExt;
    let tun = Path::new("/dev/net/tun");
    std::fs::set_permissions(tun, std::fs::Permissions::from_mode(0o666))
        .expect("chmod 0666 /dev/net/tun");
}

/// The fields of `/proc/PID/stat` after the command, the state first and
/// the parent's pid next; `None` when the process is gone. The command
/// may hold spaces and parentheses, so the line is cut at its last ") ".
pub fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}
