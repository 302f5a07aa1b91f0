//! Docker commands and flags that complete the everyday set: `network
//! connect`/`disconnect`, `run --platform`, `build --squash`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Output;

use crate::registry::{kiln_cmd, kiln_ok};
use crate::support::{
    busybox_tar, kiln_with_busybox, ok, privileged, run, Cleanup, Kiln, Registry,
};

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// Whether `from` reaches `name` (resolved by its /etc/hosts) with one
/// ping over the network itself: slirp4netns answers a ping to any
/// address on its own, with a TTL of 255, where a peer on the bridge
/// answers with Linux's 64.
fn reaches(k: &Kiln, from: &str, name: &str) -> bool {
    let o = run(k, &["exec", from, "ping", "-c", "1", "-W", "2", name]);
    o.status.success() && String::from_utf8_lossy(&o.stdout).contains("ttl=64")
}

/// `kiln` with the words of `line`, which must succeed.
fn kiln_line(k: &Kiln, line: &str) -> String {
    ok(k, &line.split_whitespace().collect::<Vec<_>>())
}

/// `kiln` with the words of `line`, which must fail with `code` and say
/// `needle`.
fn refused(k: &Kiln, line: &str, code: i32, needle: &str) {
    let args: Vec<&str> = line.split_whitespace().collect();
    let o = run(k, &args);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o));
    assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
}

#[test]
fn a_running_container_is_connected_and_disconnected_live() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _c = Cleanup(&k, &["pa-web", "pa-peer", "pa-late", "pa-later"]);
    kiln_line(&k, "network create pa-net");
    kiln_line(
        &k,
        "run -d --name pa-web --network pa-net busybox sleep 300",
    );
    kiln_line(
        &k,
        "run -d --name pa-peer --network pa-net busybox sleep 300",
    );
    kiln_line(&k, "run -d --name pa-late busybox sleep 300");
    assert!(reaches(&k, "pa-web", "pa-peer"), "the network's own pair");
    assert!(!reaches(&k, "pa-late", "pa-web"), "reached before");

    kiln_line(&k, "network connect --alias late-alias pa-net pa-late");
    assert!(reaches(&k, "pa-late", "pa-web"), "connected, by name");
    assert!(reaches(&k, "pa-web", "pa-late"), "reached back by name");
    assert!(reaches(&k, "pa-peer", "late-alias"), "reached by its alias");
    // One that joins later is named in its own hosts file too.
    kiln_line(
        &k,
        "run -d --name pa-later --network pa-net busybox sleep 300",
    );
    assert!(
        reaches(&k, "pa-late", "pa-later"),
        "one that joined after it"
    );
    let on = kiln_line(&k, "inspect -f {{.HostConfig.NetworkMode}} pa-late");
    assert_eq!(on.trim(), "pa-net");
    let again = "network connect pa-net pa-late";
    refused(&k, again, 1, "already exists in network pa-net");

    kiln_line(&k, "network disconnect pa-net pa-late");
    assert!(!reaches(&k, "pa-late", "pa-web"), "reached after");
    assert!(!reaches(&k, "pa-web", "pa-late"), "still reached by name");
    let again = "network disconnect pa-net pa-late";
    refused(&k, again, 1, "is not connected to network pa-net");
    let on = ok(
        &k,
        &["network", "inspect", "-f", "{{len .Containers}}", "pa-net"],
    );
    assert_eq!(on.trim(), "3");
}

#[test]
fn a_created_container_starts_on_the_network_it_was_connected_to() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _c = Cleanup(&k, &["pc-web", "pc-made", "pc-other"]);
    kiln_line(&k, "network create pc-net");
    kiln_line(&k, "network create pc-net2");
    kiln_line(
        &k,
        "run -d --name pc-web --network pc-net busybox sleep 300",
    );
    kiln_line(&k, "create --name pc-made --network none busybox sleep 300");
    kiln_line(&k, "network connect pc-net pc-made");
    kiln_line(&k, "start pc-made");
    assert!(reaches(&k, "pc-made", "pc-web"), "started on the network");
    assert!(reaches(&k, "pc-web", "pc-made"), "named on the network");

    refused(&k, "network connect pc-net2 pc-made", 1, "pc-net2");
    let lost = "network pc-nope not found";
    refused(&k, "network connect pc-nope pc-made", 1, lost);
    refused(&k, "network disconnect pc-nope pc-made", 1, lost);
    let gone = "No such container: pc-nope";
    refused(&k, "network connect pc-net pc-nope", 1, gone);
    refused(&k, "network connect --alias a#b pc-net2 pc-web", 1, "a#b");
    refused(&k, "network connect pc-net", 125, "");

    kiln_line(&k, "create --name pc-other --network pc-net busybox true");
    kiln_line(&k, "network disconnect pc-net pc-other");
    let mode = kiln_line(&k, "inspect -f {{.HostConfig.NetworkMode}} pc-other");
    assert_eq!(mode.trim(), "none");
}

#[test]
fn a_restarted_container_comes_back_on_the_network_it_was_connected_to() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _c = Cleanup(&k, &["pr-web", "pr-again"]);
    kiln_line(&k, "network create pr-net");
    kiln_line(
        &k,
        "run -d --name pr-web --network pr-net busybox sleep 300",
    );
    kiln_line(
        &k,
        "run -d --restart always --name pr-again busybox sleep 2",
    );
    kiln_line(&k, "network connect pr-net pr-again");
    let restarted = || {
        let n = kiln_line(&k, "inspect -f {{.RestartCount}} pr-again");
        n.trim().parse::<u32>().unwrap_or(0) > 0
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !(restarted() && reaches(&k, "pr-again", "pr-web")) {
        assert!(
            std::time::Instant::now() < deadline,
            "not back on the network after its restart"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `uname -m` as an OCI architecture, and another one.
fn host_and_other_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "arm64"),
        "aarch64" => ("arm64", "amd64"),
        other => panic!("no OCI name for {other} in this test"),
    }
}

/// Pushes `name`; returns its manifest's digest and size from
/// `TAG: digest: sha256:… size: N`.
fn push(k: &Kiln, cfg: &Path, name: &str) -> (String, u64) {
    let out = kiln_ok(k, cfg, &["push", name]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words.iter().position(|w| w.starts_with("sha256:")).unwrap();
    (words[at].to_string(), words[at + 2].parse().unwrap())
}

/// PUT over plain HTTP/1.1 (the registry is loopback, unauthenticated).
fn http_put(addr: &str, path: &str, content_type: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

#[test]
fn run_platform_picks_from_an_index_and_refuses_another() {
    if !privileged() {
        return;
    }
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let cfg = cfg.path();
    let k = kiln_with_busybox();
    let host_name = format!("{}/plat:host", reg.addr);
    let other_name = format!("{}/plat:other", reg.addr);
    kiln_ok(&k, cfg, &["tag", "busybox", &host_name]);
    let (host_digest, host_size) = push(&k, cfg, &host_name);
    let tar = busybox_tar().to_str().unwrap();
    kiln_ok(
        &k,
        cfg,
        &["import", "--change", "LABEL which=other", tar, &other_name],
    );
    let (other_digest, other_size) = push(&k, cfg, &other_name);
    let (host_arch, other_arch) = host_and_other_arch();
    let manifest = "application/vnd.oci.image.manifest.v1+json";
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": manifest, "digest": other_digest, "size": other_size,
             "platform": {"os": "linux", "architecture": other_arch}},
            {"mediaType": manifest, "digest": host_digest, "size": host_size,
             "platform": {"os": "linux", "architecture": host_arch}},
        ]
    });
    let body = serde_json::to_vec(&index).unwrap();
    let index_type = "application/vnd.oci.image.index.v1+json";
    let resp = http_put(&reg.addr, "/v2/plat/manifests/latest", index_type, &body);
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let name = format!("{}/plat:latest", reg.addr);

    // The host's entry of the index is pulled and run.
    let fresh = Kiln::new();
    let host = format!("linux/{host_arch}");
    let args = [
        "run",
        "--rm",
        "--network",
        "none",
        "--platform",
        &host,
        &name,
        "echo",
        "ran",
    ];
    let out = kiln_ok(&fresh, cfg, &args);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    let labels = ["image", "inspect", "-f", "{{json .Config.Labels}}", &name];
    let labels = kiln_ok(&fresh, cfg, &labels);
    let labels = String::from_utf8_lossy(&labels.stdout).into_owned();
    assert!(!labels.contains("other"), "the other entry: {labels}");

    // An image made only for the host is not run as another platform:
    // refused by the image's config (Docker's words) where binfmt_misc
    // emulates the platform, else by the flag, naming the platform.
    let other = format!("linux/{other_arch}");
    for image in [&host_name, &name] {
        let args = [
            "run",
            "--rm",
            "--network",
            "none",
            "--platform",
            &other,
            image,
            "true",
        ];
        let o = kiln_cmd(&fresh, cfg, &args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{image}: {err}");
        assert!(err.contains(&other), "{image}: {err}");
        assert!(
            err.contains("does not match the specified platform") || err.contains("--platform"),
            "{image}: {err}"
        );
    }
    for bad in ["foo", "linux/"] {
        let args = ["create", "--platform", bad, &name];
        let o = kiln_cmd(&fresh, cfg, &args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{bad}: {err}");
        assert!(
            err.contains("--platform") && err.contains(bad),
            "{bad}: {err}"
        );
    }
    let id = kiln_ok(&fresh, cfg, &["create", "--platform", &host, &name, "true"]);
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim().len(), 64);
}

/// The image's layer count.
fn layer_count(k: &Kiln, image: &str) -> usize {
    let n = ok(
        k,
        &["image", "inspect", "-f", "{{len .RootFS.Layers}}", image],
    );
    n.trim().parse().unwrap()
}

#[test]
fn build_squash_merges_the_built_layers_into_one() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let dockerfile = "FROM busybox\n\
        RUN echo one > /one && echo gone > /gone && rm /bin/wc\n\
        COPY a.txt /a.txt\n\
        RUN rm /gone && echo three > /three\n";
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(ctx.path().join("a.txt"), "copied\n").unwrap();
    let dir = ctx.path().to_str().unwrap();
    ok(&k, &["build", "-q", "-t", "squashed", "--squash", dir]);
    ok(&k, &["build", "-q", "-t", "layered", dir]);
    let base = layer_count(&k, "busybox");
    assert_eq!(layer_count(&k, "squashed"), base + 1);
    assert_eq!(layer_count(&k, "layered"), base + 3);

    let script = "cat /one /a.txt /three; test -e /gone || echo no-gone; \
                  test -e /bin/wc || echo no-wc";
    for image in ["squashed", "layered"] {
        let out = ok(
            &k,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                image,
                "sh",
                "-c",
                script,
            ],
        );
        assert_eq!(out, "one\ncopied\nthree\nno-gone\nno-wc\n", "{image}");
    }
    // Every instruction keeps its history entry; the squashed ones made
    // no layer of their own, and the merge is the one that did.
    let rows = ok(
        &k,
        &[
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}|{{.Size}}",
            "squashed",
        ],
    );
    let rows: Vec<&str> = rows.lines().collect();
    assert!(rows[0].contains("merge 3 layers"), "{rows:?}");
    assert_eq!(
        rows.iter().filter(|r| r.contains("RUN ")).count(),
        2,
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.starts_with("COPY a.txt")), "{rows:?}");
}
