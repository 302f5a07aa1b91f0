//! The network of RUN steps: a namespace of their own with outbound access
//! (Docker's builder runs RUN on its bridge), never the host's loopback
//! unless the person building says so. Each test performs the attack: a
//! Dockerfile reaching a service on the host's 127.0.0.1.

use std::path::Path;
use std::process::Output;

use crate::support::{kiln_with_busybox, loopback_http_server, privileged, run_sh, Kiln};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A service on the host's loopback (a registry, a database, a metadata
/// endpoint); its port.
fn host_service() -> u16 {
    loopback_http_server("host-secret-service")
}

fn build(k: &Kiln, dockerfile: &str, flags: &[&str]) -> Output {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    k.cmd(["build", "--progress=plain"])
        .args(flags)
        .arg(ctx.path())
        .output()
        .expect("kiln build")
}

fn image_of(out: &Output) -> String {
    assert!(out.status.success(), "build failed:\n{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// A Dockerfile that records what a RUN step got from the host's service,
/// at 127.0.0.1 and at slirp's gateway (which would forward to it).
fn probe(port: u16) -> String {
    format!(
        "FROM busybox\n\
         RUN (timeout 10 wget -qO- http://127.0.0.1:{port}/ || echo closed) > /lo; \
             (timeout 10 wget -qO- http://10.0.2.2:{port}/ || echo closed) > /gw\n"
    )
}

#[test]
fn run_steps_do_not_reach_the_hosts_loopback_by_default() {
    if !privileged() {
        return;
    }
    let port = host_service();
    let k = kiln_with_busybox();
    let id = image_of(&build(&k, &probe(port), &[]));
    assert_eq!(run_sh(&k, &id, "cat /lo /gw"), "closed\nclosed");
    // Each step has its own namespace with a way out (slirp's tap0).
    let id = image_of(&build(&k, "FROM busybox\nRUN ip route > /routes\n", &[]));
    let routes = run_sh(&k, &id, "cat /routes");
    assert!(routes.contains("default via 10.0.2.2 dev tap0"), "{routes}");
}

#[test]
fn network_host_is_an_explicit_opt_in() {
    if !privileged() {
        return;
    }
    let port = host_service();
    let k = kiln_with_busybox();
    let id = image_of(&build(&k, &probe(port), &["--network", "host"]));
    assert_eq!(run_sh(&k, &id, "cat /lo"), "host-secret-service");

    // A Dockerfile cannot grant itself the host's network.
    let asks = format!(
        "FROM busybox\nRUN --network=host timeout 10 wget -qO- http://127.0.0.1:{port}/ > /lo\n"
    );
    let out = build(&k, &asks, &[]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "RUN --network=host ran:\n{err}");
    assert!(err.contains("--allow network.host"), "{err}");
    assert!(
        err.contains("Dockerfile:2"),
        "the error names the line:\n{err}"
    );
    // The person building can.
    for flags in [&["--allow", "network.host"][..], &["--network", "host"]] {
        let id = image_of(&build(&k, &asks, flags));
        assert_eq!(run_sh(&k, &id, "cat /lo"), "host-secret-service");
    }
    let out = build(&k, &asks, &["--allow", "network.everything"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--allow"),
        "{}",
        text(&out.stderr)
    );
}

/// The Debian mirror the machine's own apt sources name (http), if any.
fn apt_mirror() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "sources") {
                texts.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    texts.push(std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default());
    // `URIs: …` (deb822) or `deb [opts] URI …`; comments name other hosts.
    let lines = texts.iter().flat_map(|t| t.lines());
    let entries = lines.filter(|l| l.starts_with("URIs:") || l.starts_with("deb "));
    entries.flat_map(|l| l.split_whitespace()).find_map(|w| {
        let w = w.strip_prefix("http://")?;
        Some(format!("http://{}", w.trim_end_matches('/')))
    })
}

#[test]
fn run_steps_reach_the_outside_through_user_mode_networking() {
    if !privileged() {
        return;
    }
    let mirror = apt_mirror().expect("an http mirror in the machine's apt sources");
    let k = kiln_with_busybox();
    let df = format!(
        "FROM busybox\nRUN timeout 30 wget -qO- {mirror}/dists/bookworm/Release | head -c 200 > /release\n"
    );
    let id = image_of(&build(&k, &df, &[]));
    let got = run_sh(&k, &id, "cat /release");
    assert!(got.contains("Debian"), "{got}");
}

/// An empty PATH directory: slirp4netns cannot be found.
fn without_slirp(cmd: &mut std::process::Command, empty: &Path) {
    cmd.env("PATH", empty);
}

#[test]
fn a_missing_slirp4netns_is_an_error_naming_the_package() {
    if !privileged() {
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let k = kiln_with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN true\n").unwrap();
    let mut b = k.cmd(["build", "--progress=plain"]);
    b.arg(ctx.path());
    without_slirp(&mut b, empty.path());
    let mut r = k.cmd(["run", "--rm", "busybox", "true"]);
    without_slirp(&mut r, empty.path());
    for mut cmd in [b, r] {
        let out = cmd.output().unwrap();
        let err = text(&out.stderr);
        assert!(!out.status.success(), "ran with only lo:\n{err}");
        assert!(err.contains("apt-get install slirp4netns"), "{err}");
    }
    // --network none needs no helper.
    let mut r = k.cmd(["run", "--rm", "--network", "none", "busybox", "true"]);
    without_slirp(&mut r, empty.path());
    let out = r.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
