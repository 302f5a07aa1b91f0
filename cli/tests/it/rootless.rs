//! Rootless kiln: the same binary run by an ordinary user builds and runs
//! in a user namespace mapped from /etc/subuid, and what it builds is
//! byte for byte what root builds.
//!
//! The tests (as root) make two users once: `kilntest` with subordinate
//! IDs 200000-265535, and `kilnnosub` with none. They run a copy of the
//! binary (the one under target/ may sit in a directory those users
//! cannot enter) as those users with `runuser`, on stores the users own.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support::{self, bin, busybox_tar, privileged, Kiln};

const USER: &str = "kilntest";
const NO_SUBIDS: &str = "kilnnosub";
/// Whose pause process a test kills: a user of its own, so the other
/// tests' namespace stays.
const PAUSED: &str = "kilnpause";

/// True when the rootless tests can run; they fail loudly when they
/// cannot, unless KILN_SKIP_ROOTLESS=1 says to skip them.
fn rootless() -> bool {
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    if std::env::var("KILN_SKIP_ROOTLESS").as_deref() == Ok("1") {
        eprintln!("skipped {test}: KILN_SKIP_ROOTLESS=1");
        return false;
    }
    if !privileged() {
        return false;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v newuidmap && command -v newgidmap"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{test} needs newuidmap and newgidmap (Debian package uidmap); \
         set KILN_SKIP_ROOTLESS=1 to skip it"
    );
    true
}

/// What every test shares, made once: the users, the binary and the
/// busybox tar where they can read them.
struct Fixture {
    dir: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        ensure_user(USER, &[]);
        sh(&format!(
            "grep -q '^{USER}:200000:65536$' /etc/subuid || \
             usermod --add-subuids 200000-265535 --add-subgids 200000-265535 {USER}"
        ));
        ensure_user(
            NO_SUBIDS,
            &["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"],
        );
        ensure_user(PAUSED, &["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]);
        sh(&format!(
            "grep -q '^{PAUSED}:300000:65536$' /etc/subuid || \
             usermod --add-subuids 300000-365535 --add-subgids 300000-365535 {PAUSED}"
        ));
        let subids = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        assert!(
            !subids
                .lines()
                .any(|l| l.starts_with(&format!("{NO_SUBIDS}:"))),
            "{NO_SUBIDS} must have no subordinate IDs"
        );
        support::open_tun_to_users();
        remove_fixtures_of_ended_runs();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{FIXTURE_PREFIX}{}-", std::process::id()))
            .tempdir()
            .expect("temp dir")
            .keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::copy(bin(), dir.join("kiln")).expect("copying the binary");
        std::fs::copy(busybox_tar(), dir.join("busybox.tar")).expect("copying busybox.tar");
        std::fs::set_permissions(
            dir.join("busybox.tar"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        Fixture { dir }
    })
}

/// The fixture outlives the test process (no test is last to use it);
/// its name carries the pid that made it.
const FIXTURE_PREFIX: &str = "kiln-rootless-";

/// Removes the fixtures (a copy of the binary each) that earlier test
/// processes, now ended, left in the temp dir.
fn remove_fixtures_of_ended_runs() {
    let tmp = std::env::temp_dir();
    let Ok(entries) = std::fs::read_dir(&tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(FIXTURE_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        // Without a pid: named before names carried one.
        let ended = pid.is_none_or(|p| !Path::new(&format!("/proc/{p}")).exists());
        if ended {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn sh(script: &str) {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ensure_user(name: &str, extra: &[&str]) {
    let exists = Command::new("id")
        .arg(name)
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        let mut cmd = Command::new("useradd");
        cmd.arg("--create-home").args(extra).arg(name);
        let out = cmd.output().expect("useradd");
        // Another test process may have made it meanwhile.
        let made = Command::new("id").arg(name).output().expect("id");
        assert!(
            made.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn uid_of(name: &str) -> u32 {
    let out = Command::new("id").args(["-u", name]).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a uid")
}

/// A store (and a scratch directory beside it) owned by `user`.
struct UserKiln {
    user: &'static str,
    dir: tempfile::TempDir,
}

impl UserKiln {
    fn new(user: &'static str) -> UserKiln {
        fixture(); // the users first
        let dir = tempfile::tempdir().expect("temp dir");
        let uid = uid_of(user);
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid)).expect("chown");
        UserKiln { user, dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// `kiln --root STORE ARGS…` as the user, from the user's directory.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", self.user, "--"])
            .arg(fixture().dir.join("kiln"))
            .arg("--root")
            .arg(self.root())
            .args(args)
            .current_dir(self.dir.path());
        cmd
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().expect("runuser kiln");
        assert!(
            out.status.success(),
            "kiln {args:?} as {}: {}{}",
            self.user,
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    fn import_busybox(&self) {
        let tar = fixture().dir.join("busybox.tar");
        self.ok(&["import", &tar.to_string_lossy(), "busybox"]);
    }

    /// A build context the user can read, with `dockerfile` and a file.
    fn context(&self, dockerfile: &str) -> PathBuf {
        let ctx = self.dir.path().join("ctx");
        std::fs::create_dir_all(&ctx).expect("mkdir ctx");
        std::fs::write(ctx.join("Dockerfile"), dockerfile).expect("Dockerfile");
        std::fs::write(ctx.join("hello.txt"), "hello from the context\n").expect("hello.txt");
        let uid = uid_of(self.user);
        for p in [ctx.clone(), ctx.join("Dockerfile"), ctx.join("hello.txt")] {
            std::os::unix::fs::chown(&p, Some(uid), Some(uid)).expect("chown");
        }
        ctx
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const DOCKERFILE: &str = "FROM busybox\n\
RUN mkdir /a && echo root > /a/r && echo user > /a/u && chown 1000:1000 /a/u\n\
COPY hello.txt /hello.txt\n";

#[test]
fn an_ordinary_user_builds_and_runs() {
    if !rootless() {
        return;
    }
    let k = UserKiln::new(USER);
    k.import_busybox();
    k.context(DOCKERFILE);
    // Relative to the user's working directory, which joining the
    // namespace must keep.
    k.ok(&["build", "-q", "-t", "made", "ctx"]);
    let out = k.ok(&[
        "run",
        "--rm",
        "made",
        "sh",
        "-c",
        "id -u; cat /hello.txt; stat -c '%u:%g %n' /a/r /a/u",
    ]);
    assert_eq!(
        text(&out.stdout),
        "0\nhello from the context\n0:0 /a/r\n1000:1000 /a/u\n"
    );
    // On the host, the user's own files are the user's and the ones
    // made for 1000 belong to the subordinate ID mapped to it.
    let store = std::fs::metadata(k.root()).expect("store");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(store.uid(), uid_of(USER));

    // A container one kiln starts is within reach of the next.
    let out = k.ok(&["run", "-d", "busybox", "sleep", "60"]);
    let id = text(&out.stdout).trim().to_string();
    let out = k.ok(&["exec", &id, "echo", "inside"]);
    assert_eq!(text(&out.stdout), "inside\n");
    k.ok(&["rm", "-f", &id]);
    let out = k.ok(&["ps", "-aq"]);
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn a_layer_built_rootless_is_the_layer_built_as_root() {
    if !rootless() {
        return;
    }
    let (as_root, as_user, _) = built_both_ways(DOCKERFILE);
    assert!(as_root.starts_with("sha256:"), "{as_root}");
    assert_eq!(as_user, as_root, "the rootless image differs from root's");
}

/// Removing, replacing and renaming directories of a lower layer (what
/// dpkg does) needs overlayfs's opaque directories, kept in `user.`
/// xattrs in a user namespace.
const LOWER_DIRS: &str = "FROM busybox\n\
RUN mkdir -p /d /e/f && touch /d/old /e/f/g\n\
RUN rm -rf /d && mkdir /d && touch /d/new && rm /e/f/g && mv /e /e2\n";

#[test]
fn lower_layer_directories_are_removed_replaced_and_renamed_as_for_root() {
    if !rootless() {
        return;
    }
    let (as_root, as_user, k) = built_both_ways(LOWER_DIRS);
    assert_eq!(as_user, as_root, "the rootless image differs from root's");
    let out = k.ok(&[
        "run",
        "--rm",
        as_user.trim(),
        "sh",
        "-c",
        "ls /d /e2/f; test ! -e /e && echo gone",
    ]);
    assert_eq!(text(&out.stdout), "/d:\nnew\n\n/e2/f:\ngone\n");
}

/// `dockerfile` built as root and as the user on the same base with
/// SOURCE_DATE_EPOCH: the two image IDs, and the user's kiln.
fn built_both_ways(dockerfile: &str) -> (String, String, UserKiln) {
    // One base for both: imported as root, loaded by the user.
    let root = Kiln::new();
    let out = root
        .cmd(["import"])
        .arg(busybox_tar())
        .arg("busybox")
        .output()
        .expect("import");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let k = UserKiln::new(USER);
    let base = k.dir.path().join("busybox-image.tar");
    let out = root
        .cmd(["save", "-o"])
        .arg(&base)
        .arg("busybox")
        .output()
        .expect("save");
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    k.ok(&["load", "-i", &base.to_string_lossy()]);

    let ctx = k.context(dockerfile);
    let root_iid = root.root().join("iid");
    let out = root
        .cmd(["build", "-q", "--iidfile"])
        .arg(&root_iid)
        .arg(&ctx)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("build as root");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let user_iid = k.dir.path().join("iid");
    let out = k
        .cmd(&["build", "-q", "--iidfile", &user_iid.to_string_lossy()])
        .arg(&ctx)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("build as the user");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let read = |p: &Path| std::fs::read_to_string(p).expect("iidfile");
    (read(&root_iid), read(&user_iid), k)
}

#[test]
fn limits_are_refused_with_the_reason() {
    if !rootless() {
        return;
    }
    let k = UserKiln::new(USER);
    k.import_busybox();
    for (flag, value) in [("--memory", "64m"), ("--pids-limit", "10"), ("--cpus", "1")] {
        let out = k
            .cmd(&["run", "--rm", flag, value, "busybox", "true"])
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(125),
            "{flag}: {}",
            text(&out.stderr)
        );
        let expected = format!("rootless: {flag} needs a cgroup, and cgroup v1 has no delegation");
        assert!(
            text(&out.stderr).contains(&expected),
            "{flag}: {}",
            text(&out.stderr)
        );
    }
    // Without limits, the same container runs.
    let out = k.ok(&["run", "--rm", "busybox", "echo", "unlimited"]);
    assert_eq!(text(&out.stdout), "unlimited\n");
    // What works on a running container's cgroup says why it cannot.
    let out = k.ok(&["run", "-d", "busybox", "sleep", "60"]);
    let id = text(&out.stdout).trim().to_string();
    for args in [vec!["pause", &id], vec!["update", "--memory", "100m", &id]] {
        let out = k.cmd(&args).output().expect("kiln");
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            text(&out.stderr).contains("rootless: a rootless container has no cgroup of its own"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    k.ok(&["rm", "-f", &id]);
}

#[test]
fn a_user_without_subordinate_ids_is_warned_and_still_builds() {
    if !rootless() {
        return;
    }
    let k = UserKiln::new(NO_SUBIDS);
    k.import_busybox();
    let ctx = k.context("FROM busybox\nRUN echo made > /f\nCOPY hello.txt /hello.txt\n");
    let out = k.ok(&["build", "-q", "-t", "made", &ctx.to_string_lossy()]);
    let warning = format!(
        "kiln: warning: rootless: {NO_SUBIDS} has no subordinate IDs in /etc/subuid and \
         /etc/subgid; only your own ID is mapped (to root), so every file in the images built \
         here belongs to root"
    );
    assert!(
        text(&out.stderr).contains(&warning),
        "{}",
        text(&out.stderr)
    );
    let out = k.ok(&[
        "run",
        "--rm",
        "made",
        "sh",
        "-c",
        "cat /f /hello.txt; stat -c %u /home/kiln",
    ]);
    // The base's /home/kiln (1000's) could only be root's.
    assert_eq!(text(&out.stdout), "made\nhello from the context\n0\n");
}

#[test]
fn the_default_store_is_in_the_users_data_directory() {
    if !rootless() {
        return;
    }
    let k = UserKiln::new(USER);
    let home = k.dir.path();
    let run = |env: &[&str]| {
        let out = Command::new("runuser")
            .args(["-u", USER, "--", "env", "-u", "KILN_ROOT"])
            .args(env)
            .arg(fixture().dir.join("kiln"))
            .args(["images", "-q"])
            .output()
            .expect("runuser kiln");
        assert!(out.status.success(), "{env:?}: {}", text(&out.stderr));
    };
    let home_env = format!("HOME={}", home.display());
    run(&[&home_env, "XDG_DATA_HOME="]);
    assert!(
        home.join(".local/share/kiln").is_dir(),
        "no store under ~/.local/share"
    );
    let data = home.join("data");
    let data_env = format!("XDG_DATA_HOME={}", data.display());
    run(&[&home_env, &data_env]);
    assert!(data.join("kiln").is_dir(), "no store under $XDG_DATA_HOME");
}

#[test]
fn a_killed_pause_process_is_started_again() {
    if !rootless() {
        return;
    }
    let k = UserKiln::new(PAUSED);
    k.import_busybox();
    let file = PathBuf::from(format!("/tmp/kiln-{}/pause.pid", uid_of(PAUSED)));
    let pid = || -> i32 {
        let text = std::fs::read_to_string(&file).expect("pause.pid");
        text.trim().parse().expect("a pid")
    };
    let first = pid();
    let comm = std::fs::read_to_string(format!("/proc/{first}/comm")).expect("comm");
    assert_eq!(comm.trim(), "kiln-pause");
    // Killed and, as may happen, not yet reaped: the next kiln starts another.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), nix::sys::signal::SIGKILL)
        .expect("kill");
    let out = k.ok(&["run", "--rm", "busybox", "echo", "again"]);
    assert_eq!(text(&out.stdout), "again\n");
    assert_ne!(pid(), first, "the dead pause process is still named");
}

#[test]
fn an_ordinary_user_serves_the_docker_api_from_its_runtime_dir() {
    if !rootless() || !crate::serve::docker_present() {
        return;
    }
    let k = UserKiln::new(USER);
    k.import_busybox();
    let uid = uid_of(USER);
    // runuser keeps root's XDG_RUNTIME_DIR, which is not the user's.
    let sock = PathBuf::from(format!("/tmp/kiln-{uid}/docker.sock"));
    let mut server = k.cmd(&["serve"]).spawn().expect("kiln serve as the user");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !sock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no socket at {}",
            sock.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = Command::new("runuser")
        .args([
            "-u",
            USER,
            "--",
            "/usr/bin/docker",
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo via-api; id -u",
        ])
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("DOCKER_CONFIG", k.dir.path().join("docker-config"))
        .current_dir(k.dir.path())
        .output()
        .expect("docker as the user");
    let _ = Command::new("pkill")
        .args(["-TERM", "-u", USER, "-f", "kiln --root .* serve"])
        .status();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "via-api\n0\n");
}
