//! The runner image (examples/runner/Dockerfile) in a container that is not
//! privileged: kiln builds the image, Docker 20.10 runs it as its non-root
//! user with only seccomp, AppArmor and the masked /proc paths relaxed, and
//! kiln inside builds a Dockerfile, pushes it and exports its cache to a
//! registry; a second, fresh runner imports that cache and runs no step.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::dockerd::Dockerd;
use super::support::{self, output_text as text, privileged, testdata, Kiln};

/// What docker adds to `run` for every runner: BuildKit's rootless
/// relaxations (see examples/kubernetes/README.md for why each one).
const RELAXED: &[&str] = &[
    "--network=host",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--device=/dev/net/tun",
];
const UNMASKED_PROC: &str = "--security-opt=systempaths=unconfined";

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(out.status.success(), "{cmd:?}:\n{}", text(&out));
    text(&out)
}

/// The Debian 12 base the real-world cases use (made once, then reused).
fn debian_base() -> PathBuf {
    let out = ok(Command::new(testdata().join("realworld/make-base.sh")).arg("debian"));
    PathBuf::from(
        out.lines()
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
        .args(RELAXED)
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
    let out = runner(&docker, &app, &[], "kiln build --progress plain /app");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("mounting proc"), "{}", text(&out));

    // Each other relaxation is needed too: Docker's default seccomp profile
    // refuses the user namespace, and slirp4netns needs the tun device.
    let build = "kiln build --progress plain /app";
    let without = |flag: &str| -> Vec<String> {
        let mut args: Vec<String> = (RELAXED.iter())
            .filter(|a| **a != flag)
            .map(|a| a.to_string())
            .collect();
        args.push(UNMASKED_PROC.to_string());
        args
    };
    for (flag, error) in [
        (
            "--security-opt=seccomp=unconfined",
            "entering a user namespace",
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
        .args(RELAXED)
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
