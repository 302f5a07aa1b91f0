//! The runner image (examples/runner/Dockerfile) in a container that is not
//! privileged: kiln builds the image, Docker 20.10 runs it as its non-root
//! user with only the runner's seccomp profile, AppArmor and the masked
//! /proc paths relaxed, and kiln inside builds a Dockerfile, pushes it and
//! exports its cache to a registry; a second, fresh runner imports that
//! cache and runs no step. With the process sandbox off, the masked /proc
//! paths need no relaxing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::dockerd::Dockerd;
use super::support::{self, output_text as text, privileged, testdata, Kiln};

/// What docker adds to `run` for every runner: BuildKit's rootless
/// relaxations, with the runner's own seccomp profile in place of none
/// (see examples/kubernetes/README.md for why each one).
fn relaxed() -> Vec<String> {
    let profile = testdata().join("../examples/runner/seccomp.json");
    vec![
        "--network=host".into(),
        format!("--security-opt=seccomp={}", profile.display()),
        "--security-opt=apparmor=unconfined".into(),
        "--device=/dev/net/tun".into(),
    ]
}
const UNMASKED_PROC: &str = "--security-opt=systempaths=unconfined";
const NO_PROCESS_SANDBOX: &str = "--env=KILN_NO_PROCESS_SANDBOX=1";

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(out.status.success(), "{cmd:?}:\n{}", text(&out));
    text(&out)
}

/// The Debian 12 base the real-world cases use (made once, then reused).
fn debian_base() -> PathBuf {
    let mut make = Command::new(testdata().join("realworld/make-base.sh"));
    let out = make.arg("debian").output().expect("make-base.sh");
    assert!(out.status.success(), "{make:?}:\n{}", text(&out));
    // Its log goes to stderr; stdout is the tar's path alone.
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("make-base.sh prints the tar")
            .trim(),
    )
}

/// Builds the runner image with the kiln under test in it (it runs on
/// Debian 12's glibc as the image's base does) and loads it into `docker`.
fn load_runner_image(docker: &Dockerd, scratch: &Path) {
    let k = Kiln::new();
    ok(k.cmd(["import"])
        .arg(debian_base())
        .args(["debian:bookworm"]));
    let ctx = scratch.join("runner");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    let dockerfile = testdata().join("../examples/runner/Dockerfile");
    std::fs::copy(dockerfile, ctx.join("Dockerfile")).expect("copy Dockerfile");
    std::fs::copy(support::bin(), ctx.join("kiln")).expect("copy kiln");
    ok(k.cmd(["build", "-q", "-t", "kiln/runner"]).arg(&ctx));
    let tar = scratch.join("runner.tar");
    ok(k.cmd(["save", "-o"]).arg(&tar).arg("kiln/runner"));
    ok(docker.cmd(["load", "-i"]).arg(&tar));
}

/// Puts busybox into the registry as `library/busybox`, the app's base.
fn seed_busybox(addr: &str) {
    let k = Kiln::new();
    let name = format!("{addr}/library/busybox:latest");
    ok(k.cmd(["import"]).arg(support::busybox_tar()).arg(&name));
    ok(&mut k.cmd(["push", &name]));
}

fn app_context(scratch: &Path, addr: &str) -> PathBuf {
    let app = scratch.join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    let dockerfile = format!(
        "FROM {addr}/library/busybox\nRUN echo built > /built\nCOPY hello /hello\nRUN cat /built /hello\n"
    );
    std::fs::write(app.join("Dockerfile"), dockerfile).expect("write");
    std::fs::write(app.join("hello"), "hello from the runner\n").expect("write");
    // The runner's user (1000) reads it through the bind mount.
    ok(Command::new("chmod").args(["-R", "a+rX"]).arg(scratch));
    app
}

/// One fresh runner container (`--rm`, its own empty store) running `script`.
fn runner(docker: &Dockerd, app: &Path, extra: &[&str], script: &str) -> Output {
    docker
        .cmd(["run", "--rm"])
        .args(relaxed())
        .args(extra)
        .arg(format!("--volume={}:/app:ro", app.display()))
        .args(["--entrypoint", "sh", "kiln/runner", "-c", script])
        .output()
        .expect("docker run")
}

/// Step numbers of RUN/COPY steps (`#N [stage-0 2/4] RUN ...`) mapped to
/// whether they were CACHED; the FROM line is left out.
fn steps(log: &str) -> Vec<(String, bool)> {
    let mut names = Vec::new();
    for line in log.lines() {
        let Some((num, rest)) = line.split_once(' ') else {
            continue;
        };
        if rest.starts_with("[stage-0") && !rest.contains("] FROM ") {
            names.push((num.to_string(), rest.to_string()));
        }
    }
    names
        .into_iter()
        .map(|(num, name)| {
            let cached = log.lines().any(|l| l == format!("{num} CACHED"));
            (name, cached)
        })
        .collect()
}

#[test]
fn an_unprivileged_runner_builds_pushes_and_a_fresh_one_reuses_the_registry_cache() {
    if !privileged() {
        return;
    }
    let Some(docker) = Dockerd::start() else {
        return;
    };
    support::open_tun_to_users();
    let scratch = tempfile::tempdir().expect("tempdir");
    let registry = support::Registry::start(None);
    let addr = registry.addr.clone();
    seed_busybox(&addr);
    load_runner_image(&docker, scratch.path());
    let app = app_context(scratch.path(), &addr);
    let cache = format!("type=registry,ref={addr}/app:buildcache");

    let first = format!(
        "id -u && kiln build --progress plain --push -t {addr}/app:1 \
         --cache-to {cache},mode=max /app"
    );
    let out = runner(&docker, &app, &[UNMASKED_PROC], &first);
    let log = text(&out);
    assert!(out.status.success(), "first runner:\n{log}");
    assert_eq!(
        log.lines().next(),
        Some("1000"),
        "not the image's non-root user:\n{log}"
    );
    assert!(log.contains("hello from the runner"), "{log}");
    assert!(steps(&log).iter().all(|(_, cached)| !cached), "{log}");

    let second = format!("kiln build --progress plain -t {addr}/app:2 --cache-from {cache} /app");
    let out = runner(&docker, &app, &[UNMASKED_PROC], &second);
    let log = text(&out);
    assert!(out.status.success(), "second runner:\n{log}");
    let steps = steps(&log);
    assert_eq!(steps.len(), 3, "{log}");
    assert!(
        steps.iter().all(|(_, cached)| *cached),
        "a step ran:\n{log}"
    );

    // Without the unmasked /proc, RUN cannot mount its own /proc: the
    // kernel refuses a new proc mount where parts of /proc are covered.
    // The error says what to do.
    let out = runner(&docker, &app, &[], "kiln build --progress plain /app");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("mounting proc"), "{}", text(&out));
    assert!(
        text(&out).contains("--no-process-sandbox"),
        "{}",
        text(&out)
    );

    // With the process sandbox off, the masked /proc is no obstacle: the
    // steps see the runner's own, and kiln says what that gives up.
    let third = format!("kiln build --progress plain --no-cache -t {addr}/app:3 /app");
    let out = runner(&docker, &app, &[NO_PROCESS_SANDBOX], &third);
    let log = text(&out);
    assert!(
        out.status.success(),
        "runner without the process sandbox:\n{log}"
    );
    assert!(log.contains("hello from the runner"), "{log}");
    assert!(log.contains("warning: --no-process-sandbox"), "{log}");

    // Each other relaxation is needed too: Docker's default seccomp profile
    // refuses the user namespace, and slirp4netns needs the tun device.
    let build = "kiln build --progress plain /app";
    let without = |flag: &str| -> Vec<String> {
        let mut args: Vec<String> = (relaxed().into_iter())
            .filter(|a| !a.starts_with(flag))
            .collect();
        args.push(UNMASKED_PROC.to_string());
        args
    };
    for (flag, error) in [
        (
            "--security-opt=seccomp=",
            "seccomp=examples/runner/seccomp.json",
        ),
        ("--device=/dev/net/tun", "tap0"),
    ] {
        let out = docker
            .cmd(["run", "--rm"])
            .args(without(flag))
            .arg(format!("--volume={}:/app:ro", app.display()))
            .args(["--entrypoint", "sh", "kiln/runner", "-c", build])
            .output()
            .expect("docker run");
        assert!(!out.status.success(), "without {flag}: {}", text(&out));
        assert!(text(&out).contains(error), "without {flag}: {}", text(&out));
    }

    serve_to_a_shared_socket(&docker, scratch.path(), &app, &addr);
}

/// The Deployment's pod: the runner runs `kiln serve` on a socket in a
/// volume, and a docker client outside (the CI agent's place) builds
/// through it.
fn serve_to_a_shared_socket(docker: &Dockerd, scratch: &Path, app: &Path, addr: &str) {
    let api = scratch.join("api");
    std::fs::create_dir_all(&api).expect("mkdir");
    ok(Command::new("chown").arg("1000:1000").arg(&api));
    let id = ok(docker
        .cmd(["run", "-d"])
        .args(relaxed())
        .arg(UNMASKED_PROC)
        .arg(format!("--volume={}:/run/kiln-api", api.display()))
        .args([
            "kiln/runner",
            "serve",
            "--host=unix:///run/kiln-api/docker.sock",
        ]));
    let socket = api.join("docker.sock");
    let start = std::time::Instant::now();
    while !socket.exists() && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let client = |args: &[&str]| {
        let mut cmd = Command::new(super::dockerd::CLIENT);
        cmd.arg("-H").arg(format!("unix://{}", socket.display()));
        cmd.env("DOCKER_CONFIG", scratch.join("client-config"));
        cmd.args(args);
        cmd
    };
    let built = client(&["build", "-t", "through-serve"])
        .arg(app)
        .output()
        .expect("docker build");
    let images = client(&["images", "--format", "{{.Repository}}"]).output();
    let _ = docker.cmd(["rm", "-f", id.trim()]).output();
    assert!(
        built.status.success(),
        "docker build through kiln serve:\n{}",
        text(&built)
    );
    let images = text(&images.expect("docker images"));
    assert!(images.lines().any(|l| l == "through-serve"), "{images}");
    assert!(
        images
            .lines()
            .any(|l| l == format!("{addr}/library/busybox")),
        "{images}"
    );
}

/// The runner's seccomp profile is kiln's own: Docker's default, with the
/// calls a user namespace and its containers need (unshare, mount, setns,
/// pivot_root …), which reach nothing outside it.
#[test]
fn the_runner_seccomp_profile_is_kilns_own_for_a_user_namespace() {
    let k = Kiln::new();
    let made = ok(&mut k.cmd(["debug", "seccomp", "--runner"]));
    let shipped = std::fs::read_to_string(testdata().join("../examples/runner/seccomp.json"))
        .expect("examples/runner/seccomp.json");
    assert!(
        made == shipped,
        "examples/runner/seccomp.json is stale: kiln debug seccomp --runner > it"
    );
    for call in ["unshare", "mount", "setns", "pivot_root", "umount2"] {
        assert!(
            shipped.contains(&format!("\"{call}\"")),
            "{call} not allowed"
        );
    }
    let docker_default = ok(&mut k.cmd(["debug", "seccomp"]));
    assert!(!docker_default.contains("\"unshare\""), "{docker_default}");
}
