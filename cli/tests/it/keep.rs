//! What the store keeps, and from whom: other users cannot reach it (a
//! setuid binary in a snapshot must not make them root), containers keep
//! their layers through `rmi` and every prune, and builds keep what they
//! use while `system prune -af` runs beside them. Each test performs the
//! attack or the race and asserts the refusal. Privileged.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{kiln_with_busybox, privileged, Kiln};

const NOBODY: &str = "65534";

fn out(k: &Kiln, args: &[&str]) -> Output {
    k.cmd(args).stdin(Stdio::null()).output().expect("kiln")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs and asserts success; stdout.
fn ok(k: &Kiln, args: &[&str]) -> String {
    let o = out(k, args);
    assert!(
        o.status.success(),
        "kiln {args:?} failed: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Runs and asserts failure; stderr.
fn refused(k: &Kiln, args: &[&str]) -> String {
    let o = out(k, args);
    assert!(
        !o.status.success(),
        "kiln {args:?} should have failed: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stderr)
}

/// `argv` as uid/gid 65534 with no supplementary groups, as a local user
/// would run it. Through a shell: setpriv keeps root's capabilities until
/// its own execve (to apply capability options), so the path of a program
/// it starts is looked up as root, not as the user.
fn as_nobody(argv: &[&Path]) -> Output {
    Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "/bin/sh",
            "-c",
            "exec \"$@\"",
            "sh",
        ])
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux)")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Builds the Dockerfile `dockerfile` (with `files` beside it) as `tag`.
fn build(k: &Kiln, tag: &str, dockerfile: &str, files: &[(&str, &str)]) -> Output {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    for (name, content) in files {
        std::fs::write(ctx.path().join(name), content).unwrap();
    }
    k.cmd(["build", "-q", "-t", tag])
        .arg(ctx.path())
        .stdin(Stdio::null())
        .output()
        .expect("kiln build")
}

/// Every `snapshots/*/REL` of the store.
fn in_snapshots(k: &Kiln, rel: &str) -> Vec<PathBuf> {
    std::fs::read_dir(k.root().join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join(rel))
        .filter(|p| p.symlink_metadata().is_ok())
        .collect()
}

#[test]
fn other_users_cannot_reach_the_store_nor_its_setuid_binaries() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let built = build(
        &k,
        "suid",
        "FROM busybox\nRUN cp /bin/busybox /bin/suidbox && chmod 4755 /bin/suidbox\n",
        &[],
    );
    assert!(built.status.success(), "{}", text(&built.stderr));
    // The store as an older kiln left it: open to all (tempdir made it 0700).
    for dir in ["", "snapshots", "blobs", "blobs/sha256", "containers"] {
        set_mode(&k.root().join(dir), 0o755);
    }
    set_mode(&k.root().join("meta.db"), 0o644);
    let suid = in_snapshots(&k, "bin/suidbox");
    assert_eq!(suid.len(), 1, "one snapshot holds the setuid copy");
    assert_eq!(mode(&suid[0]) & 0o4000, 0o4000, "the layer keeps setuid");
    let passwd = in_snapshots(&k, "etc/passwd");
    assert!(!passwd.is_empty());

    // Any kiln command that opens the store closes it again.
    ok(&k, &["images"]);
    assert_eq!(mode(k.root()), 0o710);
    for dir in ["snapshots", "blobs", "blobs/sha256"] {
        assert_eq!(mode(&k.root().join(dir)), 0o700, "{dir}");
    }
    assert_eq!(mode(&k.root().join("containers")), 0o710);
    assert_eq!(mode(&k.root().join("meta.db")), 0o600);

    // The attack: run the setuid-root copy as nobody and become root.
    let id = Path::new("id");
    let flag = Path::new("-u");
    let attempt = as_nobody(&[&suid[0], id, flag]);
    assert!(
        !attempt.status.success() && text(&attempt.stdout).trim() != "0",
        "nobody ran {} and got uid {}",
        suid[0].display(),
        text(&attempt.stdout).trim()
    );
    assert!(
        text(&attempt.stderr).contains("Permission denied"),
        "{}",
        text(&attempt.stderr)
    );
    let cat = Path::new("/bin/cat");
    let ls = Path::new("/bin/ls");
    for target in [&passwd[0], &k.root().join("meta.db")] {
        let read = as_nobody(&[cat, target]);
        assert!(
            !read.status.success() && text(&read.stderr).contains("Permission denied"),
            "nobody read {}: {}",
            target.display(),
            text(&read.stderr)
        );
    }
    let listed = as_nobody(&[ls, &k.root().join("snapshots")]);
    assert!(!listed.status.success(), "nobody listed snapshots/");
    // A new store is closed from the start.
    let fresh = Kiln::new();
    set_mode(fresh.root(), 0o755);
    ok(&fresh, &["images"]);
    assert_eq!(mode(fresh.root()), 0o710);
    assert_eq!(mode(&fresh.root().join("snapshots")), 0o700);
}

#[test]
fn containers_and_build_steps_as_other_users_still_work_in_a_closed_store() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    assert_eq!(mode(k.root()), 0o710);
    let passwd = ok(
        &k,
        &[
            "run",
            "--rm",
            "--user",
            NOBODY,
            "busybox",
            "cat",
            "/etc/passwd",
        ],
    );
    assert!(passwd.starts_with("root:x:0:0"), "{passwd}");
    let who = ok(
        &k,
        &[
            "run",
            "--rm",
            "--user",
            "nobody",
            "-v",
            "data:/data",
            "busybox",
            "sh",
            "-c",
            "id -u; ls /data && cat /bin/busybox > /dev/null && echo read",
        ],
    );
    assert_eq!(
        who.split_whitespace().collect::<Vec<_>>(),
        ["65534", "read"]
    );
    let built = build(
        &k,
        "as-nobody",
        "FROM busybox\nCOPY f /f\nUSER nobody\nRUN id -u > /tmp/uid && cat /f /etc/passwd > /tmp/seen\nRUN cat /tmp/uid\n",
        &[("f", "context file\n")],
    );
    assert!(built.status.success(), "{}", text(&built.stderr));
    let seen = ok(
        &k,
        &[
            "run",
            "--rm",
            "as-nobody",
            "sh",
            "-c",
            "cat /tmp/uid; head -1 /tmp/seen",
        ],
    );
    assert_eq!(seen.lines().collect::<Vec<_>>(), ["65534", "context file"]);
    ok(
        &k,
        &[
            "run", "-d", "--name", "bg", "--user", NOBODY, "busybox", "sleep", "60",
        ],
    );
    let execd = ok(
        &k,
        &["exec", "bg", "sh", "-c", "id -u; cat /etc/group | head -1"],
    );
    assert_eq!(execd.lines().collect::<Vec<_>>(), ["65534", "root:x:0:"]);
    let dir = k.root().join("containers").join(container_id(&k, "bg"));
    assert_eq!(mode(&dir), 0o700, "a container's directory is root's");
    ok(&k, &["rm", "-f", "bg"]);
}

/// The image ID of `image`.
fn image_id(k: &Kiln, image: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&ok(k, &["image", "inspect", image])).unwrap();
    v[0]["Id"].as_str().unwrap().to_string()
}

/// The full ID of container `name`.
fn container_id(k: &Kiln, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&ok(k, &["inspect", name])).unwrap();
    v[0]["Id"].as_str().unwrap().to_string()
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..12]
}

#[test]
fn rmi_of_an_image_a_container_uses_is_refused_and_prune_keeps_its_layers() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let stopped = ok(
        &k,
        &[
            "create",
            "--name",
            "stopped",
            "busybox",
            "ls",
            "/bin/busybox",
        ],
    );
    let stopped = stopped.trim();
    let running = ok(
        &k,
        &["run", "-d", "--name", "running", "busybox", "sleep", "120"],
    );
    let running = running.trim();
    let id = image_id(&k, "busybox");

    // By name and by ID: a conflict naming a container, nothing removed.
    let by_name = refused(&k, &["rmi", "busybox"]);
    assert!(
        by_name.contains("conflict")
            && (by_name.contains(&stopped[..12]) || by_name.contains(&running[..12])),
        "{by_name}"
    );
    let by_id = refused(&k, &["rmi", short(&id)]);
    assert!(by_id.contains(&running[..12]), "running wins: {by_id}");
    let forced_by_id = refused(&k, &["rmi", "-f", short(&id)]);
    assert!(forced_by_id.contains("cannot be forced"), "{forced_by_id}");
    assert_eq!(image_id(&k, "busybox"), id);

    // -f by name untags; the content stays through every prune.
    let untagged = ok(&k, &["rmi", "-f", "busybox"]);
    assert!(untagged.contains("Untagged"), "{untagged}");
    assert!(!untagged.contains("Deleted"), "{untagged}");
    assert!(!out(&k, &["image", "inspect", "busybox"]).status.success());
    ok(&k, &["cache", "prune", "-af"]);
    ok(&k, &["cache", "prune", "-af"]);
    ok(&k, &["cache", "check"]);
    // The stopped container's layers: `cp` mounts its overlay.
    let copy = tempfile::tempdir().unwrap();
    let dest = copy.path().join("busybox");
    ok(&k, &["cp", "stopped:/bin/busybox", dest.to_str().unwrap()]);
    assert!(dest.metadata().unwrap().len() > 100_000);
    let started = out(&k, &["start", "-a", "stopped"]);
    assert!(started.status.success(), "start: {}", text(&started.stderr));

    // system prune -af removes the stopped container, not the running one's layers.
    ok(&k, &["system", "prune", "-af"]);
    assert_eq!(
        ok(&k, &["exec", "running", "ls", "/bin/busybox"]).trim(),
        "/bin/busybox"
    );
    ok(&k, &["stop", "-t", "1", "running"]);
    ok(&k, &["cache", "prune", "-af"]);
    ok(&k, &["start", "running"]);
    assert_eq!(
        ok(&k, &["exec", "running", "sh", "-c", "echo up"]).trim(),
        "up"
    );
    ok(&k, &["cache", "check"]);

    // A container whose layers went anyway (by hand): check names it.
    let lowers: Vec<String> = {
        let id = container_id(&k, "running");
        let cfg: serde_json::Value = serde_json::from_slice(
            &std::fs::read(k.root().join("containers").join(id).join("config.json")).unwrap(),
        )
        .unwrap();
        cfg["rootfs"]["Overlay"]["lowers"]
            .as_array()
            .expect("an overlay container")
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    ok(&k, &["rm", "-f", "running"]);
    let again = ok(&k, &["create", "--name", "again", short(&id), "true"]);
    for l in &lowers {
        std::fs::remove_dir_all(l).unwrap();
    }
    let check = out(&k, &["cache", "check"]);
    assert!(!check.status.success());
    assert!(
        text(&check.stdout).contains(&again.trim()[..12]),
        "{}",
        text(&check.stdout)
    );
}

#[test]
fn builds_keep_what_they_use_while_system_prune_loops() {
    if !privileged() {
        return;
    }
    let k = Arc::new(kiln_with_busybox());
    // Pruning starts once every build has resolved its base and runs its
    // first step: the first `system prune -af` then removes busybox (no
    // container uses it) and, with -a, its layers' cache records, while
    // eight builds still stack those layers and their own.
    let started = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let pruner = {
        let (k, started, done) = (k.clone(), started.clone(), done.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while started.load(Ordering::SeqCst) < 8 && start.elapsed() < Duration::from_secs(120) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut rounds = 0;
            while !done.load(Ordering::SeqCst)
                && rounds < 400
                && start.elapsed() < Duration::from_secs(240)
            {
                let o = out(&k, &["system", "prune", "-af"]);
                assert!(o.status.success(), "system prune: {}", text(&o.stderr));
                rounds += 1;
            }
            rounds
        })
    };
    let builds: Vec<_> = (0..8)
        .map(|i| {
            let (k, started) = (k.clone(), started.clone());
            std::thread::spawn(move || {
                let ctx = tempfile::tempdir().unwrap();
                let dockerfile = format!(
                    "FROM busybox\nRUN echo step{i} > /a && mkdir /d && sleep 1\nCOPY f /d/f\n\
                     RUN cat /a /d/f > /b && ls /bin | wc -l > /c\nCOPY g /d/g\n\
                     RUN test -s /c && cat /d/g >> /b\n"
                );
                std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
                std::fs::write(ctx.path().join("f"), format!("file {i}\n")).unwrap();
                std::fs::write(ctx.path().join("g"), format!("more {i}\n")).unwrap();
                let mut child = k
                    .cmd(["build", "--progress=plain", "-t", &format!("img{i}")])
                    .arg(ctx.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("kiln build");
                let mut log = String::new();
                let mut counted = false;
                for line in BufReader::new(child.stderr.take().unwrap()).lines() {
                    let line = line.unwrap_or_default();
                    if !counted && line.contains("] RUN echo step") {
                        counted = true;
                        started.fetch_add(1, Ordering::SeqCst);
                    }
                    log.push_str(&line);
                    log.push('\n');
                }
                if !counted {
                    started.fetch_add(1, Ordering::SeqCst);
                }
                (i, child.wait().unwrap(), log)
            })
        })
        .collect();
    let mut failures = Vec::new();
    for b in builds {
        let (i, status, log) = b.join().unwrap();
        if !status.success() {
            let last: Vec<&str> = log.lines().rev().take(3).collect();
            failures.push(format!("build {i}: {}", last.join(" | ")));
        }
    }
    done.store(true, Ordering::SeqCst);
    let rounds = pruner.join().unwrap();
    assert!(rounds > 0);
    assert!(
        failures.is_empty(),
        "{} of 8 builds failed ({rounds} prunes):\n{}",
        failures.len(),
        failures.join("\n")
    );
    ok(&k, &["cache", "check"]);
}

#[test]
fn a_killed_builds_leases_do_not_pin_its_layers() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN head -c 300000 /bin/busybox > /big\nRUN sleep 30\n",
    )
    .unwrap();
    let mut child = k
        .cmd(["build", "--progress=plain", "-t", "killed"])
        .arg(ctx.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiln build");
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines {
        if line.unwrap_or_default().contains("] RUN sleep 30") {
            break;
        }
    }
    // While it lives, its first layer is leased: a prune keeps it.
    let first = ok(&k, &["cache", "prune", "-af"]);
    assert!(!first.contains("Deleted build cache objects"), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();
    // Dead: the next prune takes its lease over and frees the layer.
    let second = ok(&k, &["cache", "prune", "-af"]);
    assert!(second.contains("Deleted build cache objects"), "{second}");
    let leases: Vec<_> = std::fs::read_dir(k.root().join("locks"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("lease"))
        .collect();
    assert!(leases.is_empty(), "stale leases: {leases:?}");
    ok(&k, &["cache", "check"]);
}
