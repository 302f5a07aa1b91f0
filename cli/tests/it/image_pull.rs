//! `run` and `create` find their image in the store, else pull it, as
//! `docker run` does, under Docker's `--pull missing|always|never`; and the
//! image operations journal Docker's image events. Against the real local
//! registry (testdata/scripts/registry.sh), never the internet: every kiln
//! here runs with its proxies pointing at a closed local port.

use std::path::Path;
use std::process::Output;

use super::image::stdout;
use super::registry::{kiln_cmd, kiln_ok};
use super::support::{busybox_tar, privileged, Kiln, Registry};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Imports busybox as `name` with `ENV V=version` into `kiln`'s store and
/// pushes it: each version is a different image in the registry.
/// A registry holding `<registry>/busybox` (version 1), a Docker config
/// dir, and that name.
fn published() -> (Registry, tempfile::TempDir, String) {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let name = format!("{}/busybox", reg.addr);
    publish(&Kiln::new(), cfg.path(), &name, "1");
    (reg, cfg, name)
}

fn publish(kiln: &Kiln, cfg: &Path, name: &str, version: &str) {
    let env = format!("ENV V={version}");
    let tar = busybox_tar().to_str().unwrap();
    let args = [
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        "--change",
        &env,
        tar,
        name,
    ];
    kiln_ok(kiln, cfg, &args);
    kiln_ok(kiln, cfg, &["push", name]);
}

/// The image events journaled so far, as `ACTION NAME` lines.
fn image_events(kiln: &Kiln, cfg: &Path) -> Vec<String> {
    let format = "{{.Action}} {{.Actor.Attributes.name}}";
    let args = [
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "type=image",
        "--format",
        format,
    ];
    let out = kiln_ok(kiln, cfg, &args);
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn run_of_a_missing_image_pulls_it_then_runs_it() {
    if !privileged() {
        return;
    }
    let (_reg, cfg, name) = published();

    let b = Kiln::new();
    let out = kiln_ok(
        &b,
        cfg.path(),
        &["run", "--rm", &name, "sh", "-c", "echo $V"],
    );
    assert_eq!(stdout(&out), "1\n", "only the container writes stdout");
    let err = stderr(&out);
    let full = format!("{name}:latest");
    assert!(
        err.starts_with(&format!(
            "Unable to find image '{full}' locally\nlatest: Pulling from busybox\n"
        )),
        "{err}"
    );
    assert!(err.contains("Pull complete"), "{err}");
    assert!(
        err.contains(&format!("Status: Downloaded newer image for {full}")),
        "{err}"
    );
    assert!(
        image_events(&b, cfg.path()).contains(&format!("pull {full}")),
        "the pull is journaled"
    );

    // Now in the store: the next run pulls nothing.
    let again = kiln_ok(&b, cfg.path(), &["run", "--rm", &name, "true"]);
    assert_eq!(stderr(&again), "");

    // create pulls the same way, and prints only the ID on stdout.
    let c = Kiln::new();
    let out = kiln_ok(&c, cfg.path(), &["create", &name]);
    assert_eq!(stdout(&out).trim().len(), 64, "{}", stdout(&out));
    assert!(stderr(&out).contains("Unable to find image"));
}

#[test]
fn pull_never_refuses_a_missing_image_as_before() {
    if !privileged() {
        return;
    }
    let (_reg, cfg, name) = published();

    let b = Kiln::new();
    for cmd in ["run", "create"] {
        let out = kiln_cmd(&b, cfg.path(), &[cmd, "--pull", "never", &name, "true"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{cmd}");
        let err = stderr(&out);
        assert!(err.contains("no such image"), "{cmd}: {err}");
        assert!(!err.contains("Unable to find"), "{cmd}: {err}");
    }
    let images = stdout(&kiln_ok(&b, cfg.path(), &["images", "-q"]));
    assert_eq!(images, "", "nothing was pulled");
}

#[test]
fn pull_always_runs_what_the_registry_has_now() {
    if !privileged() {
        return;
    }
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let name = format!("{}/busybox", reg.addr);
    let a = Kiln::new();
    publish(&a, cfg.path(), &name, "1");
    let b = Kiln::new();
    let echo = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend(extra);
        args.extend([name.as_str(), "sh", "-c", "echo $V"]);
        kiln_ok(&b, cfg.path(), &args)
    };
    assert_eq!(stdout(&echo(&[])), "1\n");

    // The registry's image changes under the same name.
    publish(&a, cfg.path(), &name, "2");
    assert_eq!(stdout(&echo(&[])), "1\n", "missing: the store's copy");
    assert_eq!(stdout(&echo(&["--pull", "never"])), "1\n");
    let out = echo(&["--pull", "always"]);
    assert_eq!(stdout(&out), "2\n", "always: the registry's new one");
    let err = stderr(&out);
    assert!(!err.contains("Unable to find"), "{err}");
    assert!(err.contains("Status: Downloaded newer image"), "{err}");

    // Pulled again with nothing new: up to date.
    let out = echo(&["--pull", "always"]);
    assert!(stderr(&out).contains("Status: Image is up to date"));
}

#[test]
fn image_operations_are_journaled_as_docker_names_them() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let a = Kiln::new();
    let name = format!("{}/busybox:1", reg.addr);
    publish(&a, cfg.path(), &name, "1");
    let id = stdout(&kiln_ok(&a, cfg.path(), &["images", "-q", "--no-trunc"]))
        .trim()
        .to_string();
    kiln_ok(&a, cfg.path(), &["tag", &name, "other:2"]);
    let tar = a.root().join("saved.tar");
    let tar = tar.to_str().unwrap();
    kiln_ok(&a, cfg.path(), &["save", "-o", tar, "other:2"]);
    kiln_ok(&a, cfg.path(), &["rmi", "other:2"]);
    kiln_ok(&a, cfg.path(), &["rmi", "-f", &id]);
    kiln_ok(&a, cfg.path(), &["load", "-i", tar]);
    let got = image_events(&a, cfg.path());
    let want = [
        format!("import {id}"),
        format!("push {name}"),
        "tag other:2".to_string(),
        format!("save {id}"),
        format!("untag {id}"),
        format!("untag {id}"),
        format!("delete {id}"),
        format!("load {id}"),
    ];
    assert_eq!(got, want);
}

#[test]
fn a_failed_from_pull_says_why() {
    if !privileged() {
        return;
    }
    let open = Registry::start(None);
    let locked = Registry::start(Some(("user", "secret")));
    let cfg = tempfile::tempdir().unwrap();
    let kiln = Kiln::new();
    let cases = [
        // The name does not resolve: the resolver's own words.
        (
            "no-such-host.invalid/x:1".to_string(),
            "failed to lookup address",
        ),
        (format!("{}/x:1", locked.addr), "unauthorized"),
        (format!("{}/x:1", open.addr), "not found"),
    ];
    for (image, why) in cases {
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(ctx.path().join("Dockerfile"), format!("FROM {image}\n")).unwrap();
        let out = kiln_cmd(&kiln, cfg.path(), &["build", "--progress=plain"])
            .arg(ctx.path())
            // The made-up host goes to the resolver, not to the closed proxy.
            .env("NO_PROXY", "127.0.0.1,.invalid")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{image}");
        let err = stderr(&out);
        let last = err.lines().last().unwrap_or("");
        assert!(
            last.contains(&format!("pulling {image}")) && last.contains(why),
            "{image}:\n{err}"
        );
    }
}
