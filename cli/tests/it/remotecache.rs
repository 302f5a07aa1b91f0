//! The registry side of `kiln build`: FROM auto-pull through a docker.io
//! mirror, `--push`, and cache export/import (`--cache-to`/`--cache-from`,
//! local, registry, inline) against Debian's docker-registry on 127.0.0.1
//! (testdata/scripts/registry.sh). The base image is busybox, built by kiln
//! itself `FROM scratch` and pushed. Every kiln here has its proxies
//! pointed at a closed local port: nothing can leave the machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::image::{run_ok, stdout};
use super::support::{self, privileged, testdata, Kiln};

/// A docker-registry on 127.0.0.1 holding `library/busybox:latest`, and a
/// kiln config that makes it docker.io's mirror. Stopped when dropped.
struct Registry(support::Registry);

impl std::ops::Deref for Registry {
    type Target = support::Registry;
    fn deref(&self) -> &support::Registry {
        &self.0
    }
}

impl Registry {
    fn start() -> Registry {
        let reg = Registry(support::Registry::start(None));
        std::fs::write(
            reg.config(),
            format!("[registry.\"docker.io\"]\nmirrors = [\"{}\"]\n", reg.addr),
        )
        .unwrap();
        reg.seed_busybox();
        reg
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("kiln.toml")
    }

    fn name(&self, repo: &str) -> String {
        format!("{}/{repo}", self.addr)
    }

    /// busybox `FROM scratch` + Debian's busybox-static, built and pushed
    /// by kiln (so `--push` is exercised by every test here).
    fn seed_busybox(&self) {
        let ctx = self.dir.path().join("busybox");
        run_ok(
            Command::new("sh")
                .arg(testdata().join("scripts/make-busybox-rootfs.sh"))
                .arg(ctx.join("rootfs")),
        );
        std::fs::write(
            ctx.join("Dockerfile"),
            "FROM scratch\nCOPY rootfs/ /\nCMD [\"sh\"]\n",
        )
        .unwrap();
        let seed = Kiln::new();
        let target = self.name("library/busybox:latest");
        let ctx = ctx.to_str().unwrap();
        kiln_ok(&seed, self, &["build", "--push", "-t", &target, ctx]);
    }
}

fn kiln_cmd(kiln: &Kiln, reg: &Registry, args: &[&str]) -> Command {
    let mut cmd = kiln.cmd(args);
    cmd.env("KILN_CONFIG", reg.config())
        .env("DOCKER_CONFIG", reg.dir.path().join("docker"))
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn kiln_ok(kiln: &Kiln, reg: &Registry, args: &[&str]) -> Output {
    run_ok(&mut kiln_cmd(kiln, reg, args))
}

const DOCKERFILE: &str = "FROM busybox AS builder
COPY a.txt /src/a.txt
RUN tr a-z A-Z < /src/a.txt > /out.txt && echo intermediate > /side
FROM busybox
COPY --from=builder /out.txt /out.txt
RUN cat /out.txt > /final.txt
CMD [\"cat\", \"/final.txt\"]
";

fn app_context() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(d.path().join("a.txt"), "hello cache\n").unwrap();
    d
}

/// A build's plain log, its image ID and its manifest digest.
struct Built {
    log: String,
    id: String,
    manifest: String,
}

fn build(kiln: &Kiln, reg: &Registry, ctx: &Path, extra: &[&str]) -> Built {
    let meta = kiln.root().join("metadata.json");
    let mut args = vec!["build", "--progress=plain", "--metadata-file"];
    args.push(meta.to_str().unwrap());
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    let out = kiln_ok(kiln, reg, &args);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    Built {
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
        id: stdout(&out).trim().to_string(),
        manifest: doc["containerimage.digest"].as_str().unwrap().to_string(),
    }
}

/// Names of the Dockerfile steps that were CACHED, and of those that ran.
fn cached_and_ran(log: &str) -> (Vec<String>, Vec<String>) {
    let mut names = std::collections::HashMap::new();
    let (mut cached, mut ran) = (Vec::new(), Vec::new());
    for line in log.lines() {
        let Some((num, rest)) = line.split_once(' ') else {
            continue;
        };
        if rest.starts_with('[') && !rest.starts_with("[internal]") {
            names.insert(num.to_string(), rest.to_string());
        } else if rest == "CACHED" {
            cached.extend(names.get(num).cloned());
        } else if rest.starts_with("DONE") {
            ran.extend(names.get(num).cloned());
        }
    }
    (cached, ran)
}

fn run_image(kiln: &Kiln, reg: &Registry, id: &str) -> String {
    stdout(&kiln_ok(kiln, reg, &["run", "--rm", id]))
}

/// The cache config a local cache directory holds.
fn local_cache_config(dir: &Path) -> serde_json::Value {
    let read = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.kiln.cache.config.v1+json"
    );
    serde_json::from_slice(&read(manifest["config"]["digest"].as_str().unwrap())).unwrap()
}

/// The compressed blob of the builder stage's RUN layer (the one the
/// result does not contain).
fn intermediate_layer(config: &serde_json::Value) -> String {
    let rec = config["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["description"].as_str().unwrap().contains("[builder 3/3]"))
        .expect("the builder's RUN is exported");
    let diff_id = rec["diffId"].as_str().unwrap();
    config["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["diffId"] == diff_id)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn has_blob(kiln: &Kiln, digest: &str) -> bool {
    let hex = digest.trim_start_matches("sha256:");
    kiln.root().join("blobs/sha256").join(hex).exists()
}

/// Store B imports what store A exported: every step CACHED, the same
/// image (config and manifest digests), only the result's layers fetched.
/// B's context is a copy at another path (other inodes, other absolute
/// paths): cache keys must not depend on the machine.
fn assert_ci_scenario(reg: &Registry, a: &Built, b: &Built, kiln_b: &Kiln) {
    let (cached, ran) = cached_and_ran(&b.log);
    assert!(ran.is_empty(), "steps ran in store B: {ran:?}\n{}", b.log);
    assert_eq!(cached.len(), 3, "FROM, COPY --from, RUN: {}", b.log);
    assert!(
        !b.log.contains("[builder"),
        "the builder stage is not needed: {}",
        b.log
    );
    assert_eq!(a.id, b.id, "same image config");
    assert_eq!(a.manifest, b.manifest, "same manifest");
    assert_eq!(run_image(kiln_b, reg, &b.id), "HELLO CACHE\n");
}

fn copy_context(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for name in ["Dockerfile", "a.txt"] {
        std::fs::copy(from.join(name), to.path().join(name)).unwrap();
    }
    to
}

#[test]
fn local_cache_round_trip_into_an_empty_store() {
    if !privileged() {
        return;
    }
    let reg = Registry::start();
    let ctx = app_context();
    let cache = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={},mode=max", cache.path().display());
    let a = Kiln::new();
    let built_a = build(&a, &reg, ctx.path(), &["--cache-to", &dest]);
    assert_eq!(cached_and_ran(&built_a.log).1.len(), 4, "{}", built_a.log);

    let b = Kiln::new();
    let ctx_b = copy_context(ctx.path());
    let src = format!("type=local,src={}", cache.path().display());
    let built_b = build(&b, &reg, ctx_b.path(), &["--cache-from", &src]);
    assert_ci_scenario(&reg, &built_a, &built_b, &b);
    let side = intermediate_layer(&local_cache_config(cache.path()));
    assert!(has_blob(&a, &side));
    assert!(
        !has_blob(&b, &side),
        "B fetched a layer the result does not need"
    );
}

#[test]
fn registry_cache_round_trip_into_an_empty_store() {
    if !privileged() {
        return;
    }
    let reg = Registry::start();
    let ctx = app_context();
    let cache_ref = reg.name("app:buildcache");
    let a = Kiln::new();
    let to = format!("type=registry,ref={cache_ref},mode=max");
    let built_a = build(&a, &reg, ctx.path(), &["--cache-to", &to]);

    // The cache is an ordinary manifest any registry client can read.
    let raw = run_ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{cache_ref}"),
    ]));
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.kiln.cache.config.v1+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 4);

    let b = Kiln::new();
    let ctx_b = copy_context(ctx.path());
    let from = format!("type=registry,ref={cache_ref}");
    let built_b = build(&b, &reg, ctx_b.path(), &["--cache-from", &from]);
    assert_ci_scenario(&reg, &built_a, &built_b, &b);
}

#[test]
fn mode_min_exports_only_the_result_and_mode_max_the_intermediate_stage_too() {
    if !privileged() {
        return;
    }
    let reg = Registry::start();
    let ctx = app_context();
    let (min, max) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Kiln::new();
    let to_min = format!("type=local,dest={}", min.path().display());
    let to_max = format!("type=local,dest={},mode=max", max.path().display());
    build(
        &a,
        &reg,
        ctx.path(),
        &["--cache-to", &to_min, "--cache-to", &to_max],
    );
    let described = |dir: &Path| -> Vec<String> {
        local_cache_config(dir)["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["description"].as_str().unwrap().to_string())
            .collect()
    };
    let (min_records, max_records) = (described(min.path()), described(max.path()));
    assert_eq!(min_records.len(), 2, "{min_records:?}");
    assert!(min_records.iter().all(|d| d.starts_with("[stage-1")));
    assert_eq!(max_records.len(), 4, "{max_records:?}");
    assert_eq!(
        max_records
            .iter()
            .filter(|d| d.starts_with("[builder"))
            .count(),
        2
    );

    // A change in the final stage only: the min cache cannot rebuild it
    // without the builder stage; the max cache can.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        DOCKERFILE.replace(
            "cat /out.txt > /final.txt",
            "cat /out.txt /out.txt > /final.txt",
        ),
    )
    .unwrap();
    let from_min = format!("type=local,src={}", min.path().display());
    let from_max = format!("type=local,src={}", max.path().display());
    let with_min = build(&Kiln::new(), &reg, ctx.path(), &["--cache-from", &from_min]);
    let with_max = build(&Kiln::new(), &reg, ctx.path(), &["--cache-from", &from_max]);
    let ran_min = cached_and_ran(&with_min.log).1;
    let ran_max = cached_and_ran(&with_max.log).1;
    assert!(
        ran_min.iter().any(|s| s.starts_with("[builder")),
        "{ran_min:?}"
    );
    assert_eq!(ran_max.len(), 1, "only the changed RUN: {ran_max:?}");
}

#[test]
fn inline_cache_travels_in_the_pushed_image() {
    if !privileged() {
        return;
    }
    let reg = Registry::start();
    let ctx = app_context();
    let image = reg.name("app:inline");
    let a = Kiln::new();
    let flags = ["--cache-to", "type=inline", "--push", "-t", &image];
    let built_a = build(&a, &reg, ctx.path(), &flags);

    let b = Kiln::new();
    let from = format!("type=registry,ref={image}");
    let mut flags_b = vec!["--cache-from", &from];
    flags_b.extend_from_slice(&flags[..2]);
    let built_b = build(&b, &reg, ctx.path(), &flags_b);
    let (cached, ran) = cached_and_ran(&built_b.log);
    assert!(ran.is_empty(), "{ran:?}\n{}", built_b.log);
    assert_eq!(cached.len(), 3);
    // B embeds the same inline cache A did: the same config.
    assert_eq!(built_a.id, built_b.id);
    assert_eq!(run_image(&b, &reg, &built_b.id), "HELLO CACHE\n");
}

#[test]
fn from_pulls_through_a_docker_io_mirror_and_pull_rechecks() {
    if !privileged() {
        return;
    }
    let reg = Registry::start();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo pulled > /p\nCMD [\"cat\", \"/p\"]\n",
    )
    .unwrap();
    let k = Kiln::new();
    let first = build(&k, &reg, ctx.path(), &[]);
    assert!(
        first
            .log
            .contains("load metadata for docker.io/library/busybox:latest"),
        "{}",
        first.log
    );
    assert_eq!(run_image(&k, &reg, &first.id), "pulled\n");
    let images = stdout(&kiln_ok(&k, &reg, &["images"]));
    assert!(images.contains("busybox"), "{images}");

    let again = build(&k, &reg, ctx.path(), &[]);
    assert!(!again.log.contains("load metadata"), "{}", again.log);
    let pulled = build(&k, &reg, ctx.path(), &["--pull"]);
    assert!(pulled.log.contains("already exists"), "{}", pulled.log);
    assert!(cached_and_ran(&pulled.log).1.is_empty());

    // Without the mirror, docker.io is not reachable (proxies closed).
    let fresh = Kiln::new();
    let no_mirror = reg.dir.path().join("none.toml");
    std::fs::write(&no_mirror, "").unwrap();
    let out = kiln_cmd(&fresh, &reg, &["build", ctx.path().to_str().unwrap()])
        .env("KILN_CONFIG", &no_mirror)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pulling busybox"), "{err}");
}

#[test]
fn build_push_is_readable_by_skopeo() {
    if !privileged() {
        return;
    }
    let reg = Registry::start();
    let ctx = app_context();
    let k = Kiln::new();
    let tagged = reg.name("app:pushed");
    let built = build(&k, &reg, ctx.path(), &["--push", "-t", &tagged]);
    let named = reg.name("app:output");
    let output = format!("type=image,name={named},push=true");
    let built_out = build(&k, &reg, ctx.path(), &["--output", &output]);
    for (reference, id) in [(&tagged, &built.id), (&named, &built_out.id)] {
        let raw = run_ok(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ]));
        let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
        assert_eq!(manifest["config"]["digest"], id.as_str(), "{reference}");
        for layer in manifest["layers"].as_array().unwrap() {
            assert_eq!(
                layer["mediaType"],
                "application/vnd.oci.image.layer.v1.tar+gzip"
            );
        }
    }
    // And back: an empty store pulls and runs it.
    let other = Kiln::new();
    kiln_ok(&other, &reg, &["pull", &tagged]);
    assert_eq!(run_image(&other, &reg, &tagged), "HELLO CACHE\n");
}
