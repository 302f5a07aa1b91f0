//! `kiln build` end to end: the case corpus in testdata/build (each case a
//! Dockerfile, a context and an `expect` file, see its README), then the
//! cache (what invalidates what), flags, failures and concurrency, all
//! checked through `kiln build`, `kiln run` and `kiln image inspect`.
//! Privileged: run as root, or set KILN_SKIP_PRIVILEGED=1 to skip.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{kiln_with_busybox, privileged, run_sh, testdata, Kiln};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn build(k: &Kiln, dir: &Path, flags: &[&str]) -> Output {
    k.cmd(["build", "--progress=plain"])
        .args(flags)
        .arg(dir)
        .output()
        .expect("kiln build")
}

fn build_ok(k: &Kiln, dir: &Path, flags: &[&str]) -> (String, String) {
    let out = build(k, dir, flags);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "build of {} failed:\n{stderr}",
        dir.display()
    );
    (stdout.trim().to_string(), stderr)
}

fn inspect(k: &Kiln, image: &str) -> serde_json::Value {
    let out = k
        .cmd(["image", "inspect", image])
        .output()
        .expect("kiln image inspect");
    assert!(out.status.success(), "inspect: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("inspect JSON")
}

/// Checks one case of testdata/build against its `expect` file.
fn check_case(name: &str) {
    if !privileged() {
        return;
    }
    let dir = testdata().join("build").join(name);
    let expect = std::fs::read_to_string(dir.join("expect")).expect("expect file");
    let lines: Vec<&str> = expect
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    let flags: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("flags "))
        .flat_map(|f| f.split_whitespace())
        .collect();
    // git keeps only the executable bit: modes a case needs are set on a copy.
    let modes: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("chmod "))
        .collect();
    let copy = tempfile::tempdir().expect("temp dir");
    let dir = if modes.is_empty() {
        dir
    } else {
        let status = Command::new("cp")
            .arg("-a")
            .arg(&dir)
            .arg(copy.path())
            .status()
            .expect("cp");
        assert!(status.success(), "{name}: copying the case");
        let dir = copy.path().join(name);
        for m in modes {
            let (mode, path) = m.split_once(' ').expect("chmod MODE PATH");
            let status = Command::new("chmod")
                .arg(mode)
                .arg(dir.join(path))
                .status()
                .expect("chmod");
            assert!(status.success(), "{name}: chmod {m}");
        }
        dir
    };
    let k = kiln_with_busybox();
    let out = build(&k, &dir, &flags);
    let stderr = text(&out.stderr);
    let failures: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("fails "))
        .collect();
    if !failures.is_empty() {
        assert!(!out.status.success(), "{name}: the build should fail");
        for f in failures {
            assert!(stderr.contains(f), "{name}: stderr lacks {f:?}:\n{stderr}");
        }
        return;
    }
    assert!(out.status.success(), "{name}: build failed:\n{stderr}");
    let mut stderr = stderr;
    let mut id = text(&out.stdout).trim().to_string();
    assert!(
        id.starts_with("sha256:"),
        "{name}: stdout is the image ID, got {id:?}"
    );
    let mut doc = inspect(&k, &id);
    for line in lines {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "flags" | "chmod" => {}
            "rebuild" => {
                let again: Vec<&str> = rest.split_whitespace().collect();
                (id, stderr) = build_ok(&k, &dir, &again);
                doc = inspect(&k, &id);
            }
            "cached" | "ran" => {
                let (cached, ran) = cached_and_ran(&stderr);
                let list = if verb == "cached" { cached } else { ran };
                assert!(
                    list.iter().any(|s| s.contains(rest)),
                    "{name}: no {verb} step {rest:?}:\n{stderr}"
                );
            }
            "why" => {
                let out = k
                    .cmd(["cache", "why", "--last"])
                    .output()
                    .expect("cache why");
                let why = text(&out.stdout);
                assert!(
                    why.contains(rest),
                    "{name}: cache why lacks {rest:?}:\n{why}"
                );
            }
            "run" => {
                let (cmd, want) = rest.split_once(" == ").expect("run CMD == TEXT");
                assert_eq!(
                    run_sh(&k, &id, cmd),
                    want.replace("\\n", "\n"),
                    "{name}: {cmd}"
                );
            }
            "inspect" => {
                let (ptr, want) = rest.split_once(" == ").expect("inspect PTR == JSON");
                let want: serde_json::Value = serde_json::from_str(want).expect("JSON value");
                let got = doc.pointer(ptr).cloned().unwrap_or(serde_json::Value::Null);
                assert_eq!(got, want, "{name}: {ptr}");
            }
            "layers" => {
                let n = doc
                    .pointer("/0/RootFS/Layers")
                    .and_then(|l| l.as_array())
                    .map_or(0, Vec::len);
                assert_eq!(n.to_string(), rest, "{name}: layer count");
            }
            "layer" => {
                let (n, want) = rest.split_once(" ==").expect("layer N == ENTRIES");
                let n: usize = n.parse().expect("layer number");
                let got = layer_entries(&k, &id, n).join(", ");
                assert_eq!(got, want.trim(), "{name}: entries of layer {n}");
            }
            "empty-history" => {
                let out = k
                    .cmd(["history", "--no-trunc", &id])
                    .output()
                    .expect("history");
                let rows = text(&out.stdout);
                let config = config_doc(&k, &id);
                let empty = config["history"]
                    .as_array()
                    .map_or(0, |h| h.iter().filter(|e| e["empty_layer"] == true).count());
                assert_eq!(
                    empty.to_string(),
                    rest,
                    "{name}: empty_layer entries\n{rows}"
                );
            }
            "stderr" => assert!(
                stderr.contains(rest),
                "{name}: stderr lacks {rest:?}:\n{stderr}"
            ),
            "not-stderr" => assert!(
                !stderr.contains(rest),
                "{name}: stderr has {rest:?}:\n{stderr}"
            ),
            other => panic!("{name}: unknown check {other:?}"),
        }
    }
}

/// The image's config document, read with `kiln save` (what a registry gets).
fn config_doc(k: &Kiln, id: &str) -> serde_json::Value {
    let (dir, manifest) = saved(k, id);
    let config = manifest[0]["Config"].as_str().expect("Config path");
    serde_json::from_slice(&std::fs::read(dir.path().join(config)).expect("config"))
        .expect("config json")
}

/// Layer `n` (1 = the bottom one) of the image as `kiln save` writes it:
/// its entries, sorted, each `PATH MODE UID:GID` (directories end in `/`).
fn layer_entries(k: &Kiln, id: &str, n: usize) -> Vec<String> {
    let (dir, manifest) = saved(k, id);
    let layer = manifest[0]["Layers"][n - 1].as_str().expect("layer path");
    let out = dir.path().join("layer");
    std::fs::create_dir(&out).expect("mkdir");
    let ok = Command::new("tar")
        .arg("--numeric-owner")
        .arg("-xpf")
        .arg(dir.path().join(layer))
        .arg("-C")
        .arg(&out)
        .status()
        .expect("tar")
        .success();
    assert!(ok, "extracting layer {n}");
    let mut entries = Vec::new();
    walk(&out, &out, &mut entries);
    entries.sort();
    entries
}

fn walk(root: &Path, dir: &Path, entries: &mut Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let m = e.path().symlink_metadata().expect("lstat");
        let rel = e
            .path()
            .strip_prefix(root)
            .expect("below")
            .display()
            .to_string();
        let slash = if m.is_dir() { "/" } else { "" };
        let mode = m.mode() & 0o7777;
        entries.push(format!("{rel}{slash} {mode:o} {}:{}", m.uid(), m.gid()));
        if m.is_dir() {
            walk(root, &e.path(), entries);
        }
    }
}

/// `kiln save` of the image, unpacked: the directory and its manifest.json.
fn saved(k: &Kiln, id: &str) -> (tempfile::TempDir, serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = dir.path().join("image.tar");
    let ok = k
        .cmd(["save", "-o"])
        .arg(&tar)
        .arg(id)
        .status()
        .expect("kiln save")
        .success();
    assert!(ok, "kiln save failed");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .arg("-xf")
        .arg(&tar)
        .status()
        .expect("tar")
        .success();
    assert!(ok);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("manifest.json")).expect("manifest.json"),
    )
    .expect("json");
    (dir, manifest)
}

macro_rules! cases {
    ($($test:ident => $dir:literal),* $(,)?) => {
        $(#[test] fn $test() { check_case($dir); })*
    };
}

cases! {
    case_copy => "copy",
    case_run => "run",
    case_config => "config",
    case_multistage => "multistage",
    case_multistage_target => "multistage-target",
    case_args => "args",
    case_add => "add",
    case_dockerignore => "dockerignore",
    case_dockerignore_refused => "dockerignore-refused",
    case_onbuild => "onbuild",
    case_workdir => "workdir",
    case_err_outside => "err-outside",
    case_err_mount => "err-mount",
    case_err_exit => "err-exit",
    case_err_symlink_out => "err-symlink-out",
    case_entrypoint_cmd => "entrypoint-cmd",
    case_entrypoint_cmd_cleared => "entrypoint-cmd-cleared",
    case_copy_from_content => "copy-from-content",
    case_layers => "layers",
    case_layers_scratch_run => "layers-scratch-run",
    case_layers_run_cwd => "layers-run-cwd",
}

/// Lines of a plain-progress log that report `CACHED`, and those that ran.
fn cached_and_ran(stderr: &str) -> (Vec<String>, Vec<String>) {
    let mut names = std::collections::HashMap::new();
    let (mut cached, mut ran) = (Vec::new(), Vec::new());
    for line in stderr.lines() {
        let Some((num, rest)) = line.split_once(' ') else {
            continue;
        };
        if rest.starts_with('[') {
            names.insert(num.to_string(), rest.to_string());
        } else if rest == "CACHED" {
            cached.push(names.get(num).cloned().unwrap_or_default());
        } else if rest.starts_with("DONE") {
            ran.push(names.get(num).cloned().unwrap_or_default());
        }
    }
    (cached, ran)
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).expect("write");
}

const CACHE_DOCKERFILE: &str = "FROM busybox\nARG V=1\nCOPY a.txt /a.txt\nRUN echo $V > /v\nCOPY b.txt /b.txt\nRUN cat /a.txt /b.txt /v > /all\n";

fn cache_context() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "Dockerfile", CACHE_DOCKERFILE);
    write(d.path(), "a.txt", "a\n");
    write(d.path(), "b.txt", "b\n");
    d
}

#[test]
fn rebuild_is_fully_cached_and_mtime_only_change_invalidates_nothing() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = cache_context();
    let (first, _) = build_ok(&k, ctx.path(), &[]);
    let (again, stderr) = build_ok(&k, ctx.path(), &[]);
    let (cached, ran) = cached_and_ran(&stderr);
    assert!(ran.is_empty(), "nothing runs on a rebuild: {ran:?}");
    assert_eq!(cached.len(), 5, "{stderr}");
    // A fully cached rebuild gives back the same image, as Docker's does.
    assert_eq!(first, again);
    // Same bytes, new mtime: BuildKit's content keys ignore mtimes.
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.path().join("a.txt"))
        .expect("open");
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .expect("touch");
    let (second, stderr) = build_ok(&k, ctx.path(), &[]);
    assert!(
        cached_and_ran(&stderr).1.is_empty(),
        "an mtime change ran steps:\n{stderr}"
    );
    assert_eq!(first, second, "an mtime-only change made a new image");
}

#[test]
fn content_change_invalidates_from_its_copy_on() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = cache_context();
    build_ok(&k, ctx.path(), &[]);
    write(ctx.path(), "b.txt", "B changed\n");
    let (id, stderr) = build_ok(&k, ctx.path(), &[]);
    let (cached, ran) = cached_and_ran(&stderr);
    assert_eq!(
        cached.len(),
        3,
        "FROM, COPY a, RUN v stay cached:\n{stderr}"
    );
    assert!(
        ran.iter().any(|r| r.contains("COPY b.txt")) && ran.iter().any(|r| r.contains("RUN cat")),
        "{ran:?}"
    );
    assert_eq!(run_sh(&k, &id, "cat /all"), "a\nB changed\n1");
    // Same size, same second: the stat cache must not trust its old digest.
    write(ctx.path(), "b.txt", "B chang3d\n");
    let (id, _) = build_ok(&k, ctx.path(), &[]);
    assert_eq!(run_sh(&k, &id, "cat /b.txt"), "B chang3d");
    let why = k
        .cmd(["cache", "why", "--last"])
        .output()
        .expect("cache why");
    assert!(why.status.success(), "{}", text(&why.stderr));
    let why = text(&why.stdout);
    assert!(why.contains("file b.txt: content changed"), "{why}");
}

#[test]
fn build_arg_change_invalidates_the_run_that_sees_it() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = cache_context();
    build_ok(&k, ctx.path(), &[]);
    let (id, stderr) = build_ok(&k, ctx.path(), &["--build-arg", "V=2"]);
    let (cached, ran) = cached_and_ran(&stderr);
    assert_eq!(
        cached.len(),
        2,
        "FROM and COPY a.txt stay cached:\n{stderr}"
    );
    assert_eq!(ran.len(), 3, "{ran:?}");
    assert_eq!(run_sh(&k, &id, "cat /v"), "2");
}

#[test]
fn no_cache_and_no_cache_filter_rerun_steps() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = cache_context();
    build_ok(&k, ctx.path(), &[]);
    let (_, stderr) = build_ok(&k, ctx.path(), &["--no-cache"]);
    assert_eq!(cached_and_ran(&stderr).1.len(), 4, "{stderr}");
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM busybox AS other\nRUN echo x > /x\n{}",
            CACHE_DOCKERFILE.replace("FROM busybox", "FROM busybox AS last")
        ),
    );
    build_ok(&k, ctx.path(), &[]);
    let (_, stderr) = build_ok(&k, ctx.path(), &["--no-cache-filter", "last"]);
    let (cached, ran) = cached_and_ran(&stderr);
    assert!(ran.iter().all(|r| r.starts_with("[last ")), "{ran:?}");
    assert!(
        cached
            .iter()
            .all(|c| !c.starts_with("[last ") || c.contains("FROM")),
        "{cached:?}"
    );
}

#[test]
fn quiet_prints_only_the_image_id_and_output_writes_an_oci_archive() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = cache_context();
    let dest = ctx.path().join("out.tar");
    let out = k
        .cmd(["build", "-q", "-t", "demo:1", "-t", "demo:2", "--output"])
        .arg(format!("type=oci,dest={}", dest.display()))
        .arg(ctx.path())
        .output()
        .expect("build");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.trim().starts_with("sha256:") && stdout.lines().count() == 1,
        "{stdout:?}"
    );
    assert!(
        text(&out.stderr).is_empty(),
        "-q prints nothing on stderr: {}",
        text(&out.stderr)
    );
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(&dest)
        .output()
        .expect("tar -t");
    assert!(
        text(&listing.stdout).contains("index.json"),
        "{}",
        text(&listing.stdout)
    );
    assert_eq!(run_sh(&k, "demo:2", "cat /v"), "1");
}

#[test]
fn failing_step_leaves_an_image_of_the_last_good_step() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let dir = testdata().join("build/err-exit");
    let out = build(&k, &dir, &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let id = stderr
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .map(|w| w.trim_end_matches([';', ',', '.']))
        .unwrap_or_else(|| panic!("no last good image in:\n{stderr}"));
    assert_eq!(run_sh(&k, id, "cat /good"), "good");
}

#[test]
fn concurrent_builds_on_one_root_share_the_cache() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctxs: Vec<_> = (0..3).map(|_| cache_context()).collect();
    let children: Vec<_> = ctxs
        .iter()
        .map(|c| {
            k.cmd(["build", "--progress=plain"])
                .arg(c.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let ids: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            assert!(out.status.success(), "{}", text(&out.stderr));
            text(&out.stdout).trim().to_string()
        })
        .collect();
    for id in &ids {
        assert_eq!(run_sh(&k, id, "cat /all"), "a\nb\n1");
    }
    let (_, stderr) = build_ok(&k, ctxs[0].path(), &[]);
    assert!(cached_and_ran(&stderr).1.is_empty(), "{stderr}");
    let check = k.cmd(["cache", "check"]).output().expect("cache check");
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
}

#[test]
fn independent_stages_run_in_parallel() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let d = tempfile::tempdir().expect("tempdir");
    let mut df = String::new();
    for i in 0..3 {
        df.push_str(&format!("FROM busybox AS s{i}\nRUN cut -d\' \' -f1 /proc/uptime > /start && sleep 1 && cut -d\' \' -f1 /proc/uptime > /end\n"));
    }
    df.push_str("FROM busybox\nCOPY --from=s0 /start /s0\nCOPY --from=s1 /start /s1\nCOPY --from=s2 /start /s2\nCOPY --from=s0 /end /e0\n");
    write(d.path(), "Dockerfile", &df);
    let (id, _) = build_ok(&k, d.path(), &["--jobs", "3"]);
    let starts = run_sh(&k, &id, "cat /s0 /s1 /s2 /e0");
    let t: Vec<f64> = starts.lines().map(|l| l.parse().expect("time")).collect();
    let (first, last) = (
        t[..3].iter().cloned().fold(f64::MAX, f64::min),
        t[..3].iter().cloned().fold(0.0, f64::max),
    );
    assert!(
        last < t[3],
        "all three stages started before the first one ended: {t:?}"
    );
    let _ = first;
}

#[test]
fn sigterm_kills_the_running_step_and_exits_130() {
    if !privileged() {
        return;
    }
    use std::io::{BufRead, BufReader};
    let k = kiln_with_busybox();
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "Dockerfile",
        "FROM busybox\nRUN echo started && sleep 60\n",
    );
    let mut child = k
        .cmd(["build", "--progress=plain"])
        .arg(d.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let began = std::time::Instant::now();
    for line in lines.by_ref() {
        if line.expect("line").ends_with(" started") {
            break;
        }
        assert!(began.elapsed().as_secs() < 30, "the step never started");
    }
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert!(
        began.elapsed().as_secs() < 30,
        "the 60 s step was not killed"
    );
    let check = k.cmd(["cache", "check"]).output().expect("cache check");
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
}

/// `(event, vertex, name)` of each start, cache hit and finish in a
/// `--progress=rawjson` log, in the order they were sent.
fn events(stderr: &str) -> Vec<(String, u64, String)> {
    let mut names = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in stderr.lines() {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let kind = e["event"].as_str().unwrap_or_default().to_string();
        let vertex = e["vertex"].as_u64().unwrap_or_default();
        if let Some(name) = e["name"].as_str() {
            names.insert(vertex, name.to_string());
        }
        let name = names.get(&vertex).cloned().unwrap_or_default();
        out.push((kind, vertex, name));
    }
    out
}

/// Position of the first event of `kind` for a step whose name has `text`.
fn at(events: &[(String, u64, String)], kind: &str, text: &str) -> usize {
    events
        .iter()
        .position(|(k, _, n)| k == kind && n.contains(text))
        .unwrap_or_else(|| panic!("no {kind} event for {text:?}: {events:?}"))
}

// Scheduling is per step, as BuildKit's is per vertex: a stage's steps
// before its `COPY --from` run while the stage it copies from builds.
#[test]
fn steps_before_a_copy_from_run_while_that_stage_builds() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "Dockerfile",
        "FROM busybox AS a\nRUN sleep 2 && echo a > /a\n\
         FROM busybox AS b\nRUN sleep 2 && echo b > /b\nCOPY --from=a /a /a\n",
    );
    let out = k
        .cmd(["build", "--progress=rawjson", "--jobs", "2"])
        .arg(d.path())
        .output()
        .expect("kiln build");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "build failed:\n{stderr}");
    let ev = events(&stderr);
    let a_start = at(&ev, "started", "[a 2/2] RUN");
    let b_start = at(&ev, "started", "[b 2/3] RUN");
    let a_done = ev
        .iter()
        .position(|(k, v, _)| k == "done" && *v == ev[a_start].1)
        .expect("a's RUN finished");
    let b_done = ev
        .iter()
        .position(|(k, v, _)| k == "done" && *v == ev[b_start].1)
        .expect("b's RUN finished");
    // Each RUN starts before the other one finishes: they overlap.
    assert!(b_start < a_done && a_start < b_done, "{ev:?}");
    // The copy waits for its stage.
    assert!(at(&ev, "started", "[b 3/3] COPY") > a_done, "{ev:?}");
}

// A COPY of a large tree keeps its file list out of the cache record (one
// ingredient, the list's digest): `cache why` must still name the file.
#[test]
fn cache_why_names_the_changed_file_of_a_large_copy() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "Dockerfile", "FROM busybox\nCOPY src /src\n");
    std::fs::create_dir(d.path().join("src")).expect("mkdir");
    for i in 0..300 {
        write(&d.path().join("src"), &format!("f{i:03}"), &i.to_string());
    }
    build_ok(&k, d.path(), &[]);
    write(&d.path().join("src"), "f123", "changed");
    let (_, stderr) = build_ok(&k, d.path(), &[]);
    let (_, ran) = cached_and_ran(&stderr);
    assert!(ran.iter().any(|s| s.contains("COPY src /src")), "{stderr}");
    let out = k
        .cmd(["cache", "why", "--last"])
        .output()
        .expect("cache why");
    let why = text(&out.stdout);
    assert!(why.contains("file src/f123: content changed"), "{why}");
}

// A RUN's root overlay skips overlayfs's syncs (its fsyncs, the flush at its
// unmount): the store flushes the step's files once, as it commits them.
#[test]
fn a_run_step_syncs_nothing_itself_and_its_layer_is_kept() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let d = tempfile::tempdir().expect("tempdir");
    let dockerfile =
        "FROM busybox\nRUN awk '$2 == \"/\" { print $4 }' /proc/mounts > /options && sync\n";
    write(d.path(), "Dockerfile", dockerfile);
    build_ok(&k, d.path(), &["-t", "app"]);
    let options = run_sh(&k, "app", "cat /options");
    assert!(options.contains("upperdir="), "{options}");
    assert!(options.contains("volatile"), "{options}");
    let check = k.cmd(["cache", "check"]).output().expect("cache check");
    assert!(check.status.success(), "{}", text(&check.stdout));
}
