//! `kiln build history`: every build leaves a record under the root;
//! `ls`, `inspect`, `rm`, `graph`, `timeline` and `export` read them,
//! `kiln build --timeline/--export-trace` write them at the end of a
//! build, `kiln cache prune` removes them. The timeline page is opened in
//! headless Chromium, which must be installed (testdata/apt-packages.txt)
//! unless KILN_SKIP_BROWSER=1. Privileged: run as root, or set
//! KILN_SKIP_PRIVILEGED=1 to skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{kiln_with_busybox, privileged, Kiln};

/// Two stages read by a third; `a` is the slow one, so the critical path
/// runs through it.
const DOCKERFILE: &str = "FROM busybox AS a
RUN sleep 0.6 && echo a > /a

FROM busybox AS b
RUN echo b > /b

FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
RUN cat /a /b
";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    dir
}

fn build(k: &Kiln, dir: &Path, flags: &[&str]) -> String {
    let out = k
        .cmd(["build", "-q"])
        .args(flags)
        .arg(dir)
        .output()
        .unwrap();
    ok(out, "kiln build").trim().to_string()
}

fn history(k: &Kiln, words: &[&str]) -> String {
    let out = k.cmd(["build", "history"]).args(words).output().unwrap();
    ok(out, &format!("kiln build history {}", words.join(" ")))
}

fn records(k: &Kiln) -> Vec<Value> {
    let list: Value = serde_json::from_str(&history(k, &["ls", "--format", "json"])).unwrap();
    list.as_array().unwrap().clone()
}

#[test]
fn builds_are_recorded_with_steps_lines_and_cache_misses() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = context(DOCKERFILE);
    let image = build(&k, ctx.path(), &["-t", "app:1"]);
    let list = records(&k);
    assert_eq!(list.len(), 1);
    let first = &list[0];
    assert_eq!(first["outcome"]["image"], image.as_str());
    assert!(first["dockerfile_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let steps = first["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8, "{steps:#?}");
    let run_a = steps
        .iter()
        .find(|s| s["name"] == "[a 2/2] RUN sleep 0.6 && echo a > /a")
        .unwrap();
    assert_eq!(
        (run_a["line"].as_u64(), run_a["cached"].as_bool()),
        (Some(2), Some(false))
    );
    assert!(run_a["end"].as_u64().unwrap() - run_a["start"].as_u64().unwrap() >= 600_000_000);

    // A changed step says why it missed; the others are CACHED.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        DOCKERFILE.replace("echo b", "echo bb"),
    )
    .unwrap();
    build(&k, ctx.path(), &[]);
    let shown = history(&k, &["inspect", "--last"]);
    assert!(
        shown.contains("RAN      ") && shown.contains("[b 2/2] RUN echo bb > /b  (Dockerfile:5)"),
        "{shown}"
    );
    assert!(shown.contains("miss: command changed"), "{shown}");
    assert!(
        shown.contains("CACHED   0.00s  [a 2/2] RUN sleep 0.6"),
        "{shown}"
    );
    let ls = history(&k, &["ls"]);
    assert!(ls.starts_with("BUILD ID"), "{ls}");
    assert_eq!(ls.lines().count(), 3, "{ls}");

    // The step DAG: COPY --from edges, the slow stage on the critical path
    // (vertex numbers follow the order steps started in).
    let id = first["id"].as_str().unwrap();
    let vertex = |name: &str| {
        let s = steps
            .iter()
            .find(|s| s["name"].as_str().unwrap().ends_with(name));
        s.unwrap()["vertex"].as_u64().unwrap()
    };
    let dot = history(&k, &["graph", &id[..8]]);
    assert!(dot.starts_with("digraph build {"), "{dot}");
    let (sleep_a, copy_a, copy_b, run) = (
        vertex("echo a > /a"),
        vertex("COPY --from=a /a /a"),
        vertex("COPY --from=b /b /b"),
        vertex("RUN cat /a /b"),
    );
    for (from, to) in [(sleep_a, copy_a), (copy_a, copy_b), (copy_b, run)] {
        let edge = format!("v{from} -> v{to} [color=red, penwidth=2];");
        assert!(dot.contains(&edge), "{edge} in\n{dot}");
    }
    let edge = format!("v{} -> v{copy_b};", vertex("echo b > /b"));
    assert!(dot.contains(&edge), "{edge} in\n{dot}");

    assert_eq!(history(&k, &["rm", id]).trim(), id);
    assert_eq!(records(&k).len(), 1);
    let out = k.cmd(["build", "history", "inspect", id]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no build record"),
        "{}",
        text(&out.stderr)
    );

    // Records go with the cache.
    ok(
        k.cmd(["cache", "prune", "-f", "--all"]).output().unwrap(),
        "cache prune",
    );
    assert!(records(&k).is_empty());
}

#[test]
fn failed_builds_are_recorded_too() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = context("FROM busybox\nRUN exit 3\n");
    let out = k.cmd(["build", "-q"]).arg(ctx.path()).output().unwrap();
    assert!(!out.status.success());
    let list = records(&k);
    assert_eq!(list[0]["outcome"]["image"], Value::Null);
    assert!(
        list[0]["outcome"]["error"]
            .as_str()
            .unwrap()
            .contains("exit code: 3"),
        "{:#}",
        list[0]
    );
    let failed = &list[0]["steps"][1];
    assert_eq!(failed["line"], 2);
    assert!(failed["error"].is_string(), "{failed:#}");
    assert!(history(&k, &["ls"]).contains("Error"));
}

#[test]
fn max_entries_in_the_config_bounds_the_records() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let config = k.root().join("config.toml");
    std::fs::write(&config, "[history]\nmaxEntries = 2\n").unwrap();
    let ctx = context("FROM busybox\nRUN true\n");
    for _ in 0..3 {
        let out = k
            .cmd(["--config"])
            .arg(&config)
            .args(["build", "-q"])
            .arg(ctx.path())
            .output()
            .unwrap();
        ok(out, "kiln build");
    }
    assert_eq!(records(&k).len(), 2);
}

// `kiln build history` with nothing after it is a build of ./history, as
// it always was; `./history` and any path with a slash too.
#[test]
fn a_context_named_history_still_builds() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("history");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nRUN echo hi > /hi\n").unwrap();
    for context in ["history", "./history"] {
        let out = k
            .cmd(["build", "-q", context])
            .current_dir(parent.path())
            .output()
            .unwrap();
        assert!(ok(out, context).trim().starts_with("sha256:"));
    }
    let out = k
        .cmd(["build", "history", "extra"])
        .current_dir(parent.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a second context path is refused as before"
    );
    assert!(
        text(&out.stderr).contains("unexpected argument 'extra'"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_trace_is_otlp_json() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = context(DOCKERFILE);
    let trace = k.root().join("trace.json");
    build(&k, ctx.path(), &["--export-trace", trace.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let rs = &v["resourceSpans"][0];
    assert!(rs["resource"]["attributes"].is_array());
    let spans = rs["scopeSpans"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1 + 8, "the build and its steps");
    let root = &spans[0];
    assert_eq!(root["parentSpanId"], "");
    assert_eq!(root["traceId"].as_str().unwrap().len(), 32);
    for s in spans {
        assert_eq!(s["traceId"], root["traceId"]);
        assert_eq!(s["spanId"].as_str().unwrap().len(), 16);
        let start: u64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u64 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert!(start <= end && start > 1_600_000_000_000_000_000, "{s:#}");
        assert_eq!(s["status"]["code"], 1);
    }
    for s in &spans[1..] {
        assert_eq!(s["parentSpanId"], root["spanId"]);
        let keys: Vec<&str> = s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["key"].as_str().unwrap())
            .collect();
        for key in ["kiln.vertex", "kiln.cached", "code.filepath", "code.lineno"] {
            assert!(keys.contains(&key), "{key} in {s:#}");
        }
    }
    // The same trace from the kept record.
    let again = k.root().join("again.json");
    history(&k, &["export", "--last", "-o", again.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&trace).unwrap()
    );
}

/// Headless Chromium, or `None` when the person running the tests opted
/// out with KILN_SKIP_BROWSER=1.
fn chromium() -> Option<&'static str> {
    let found = Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("chromium");
    }
    if std::env::var("KILN_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("skipped: chromium is not installed (KILN_SKIP_BROWSER=1)");
        return None;
    }
    panic!("chromium is not installed (apt-get install chromium); set KILN_SKIP_BROWSER=1 to skip");
}

fn chromium_run(browser: &str, scratch: &Path, args: &[String]) -> Output {
    let profile = tempfile::tempdir_in(scratch).unwrap();
    Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("running chromium")
}

/// The value of `name="…"` in one tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    tag[start..].split('"').next()
}

#[test]
fn the_timeline_page_renders_in_a_browser() {
    if !privileged() {
        return;
    }
    let Some(browser) = chromium() else {
        return;
    };
    let k = kiln_with_busybox();
    let ctx = context(DOCKERFILE);
    let page = k.root().join("build.html");
    build(&k, ctx.path(), &["--timeline", page.to_str().unwrap()]);
    let svg = k.root().join("build.svg");
    history(&k, &["timeline", "--last", "-o", svg.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));

    let url = format!("file://{}", page.display());
    let out = chromium_run(browser, k.root(), &["--dump-dom".into(), url.clone()]);
    let dom = ok(out, "chromium --dump-dom");
    assert!(
        dom.contains("data-bars=\"8\""),
        "the page's script ran over 8 bars:\n{dom}"
    );
    let bars: Vec<&str> = dom
        .split("<rect class=\"bar")
        .skip(1)
        .map(|b| b.split('>').next().unwrap())
        .collect();
    assert_eq!(bars.len(), 8);
    // Laid out by the browser: a bar that starts later is drawn further right.
    let mut placed: Vec<(f64, f64, &str)> = bars
        .iter()
        .map(|b| {
            let start: f64 = attr(b, "data-start-ms").unwrap().parse().unwrap();
            let x: f64 = attr(b, "data-rendered-x")
                .expect("rendered by the browser")
                .parse()
                .unwrap();
            assert!(
                attr(b, "data-rendered-width")
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
                    >= 3.0
            );
            (start, x, *b)
        })
        .collect();
    placed.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        placed.windows(2).all(|w| w[0].1 <= w[1].1 + 0.5),
        "{placed:#?}"
    );
    // Lanes in Dockerfile order, the critical path through the slow stage.
    let critical: Vec<(&str, &str)> = bars
        .iter()
        .filter(|b| attr(b, "data-critical") == Some("true"))
        .map(|b| {
            (
                attr(b, "data-stage").unwrap(),
                attr(b, "data-vertex").unwrap(),
            )
        })
        .collect();
    let stages: Vec<&str> = critical.iter().map(|(s, _)| *s).collect();
    assert_eq!(stages.first(), Some(&"a"), "{critical:?}");
    assert_eq!(
        stages.iter().filter(|s| **s == "stage-2").count(),
        3,
        "{critical:?}"
    );
    assert!(!stages.contains(&"b"), "{critical:?}");
    let order: Vec<&str> = bars
        .iter()
        .map(|b| attr(b, "data-stage").unwrap())
        .collect();
    assert_eq!(
        order,
        ["a", "a", "b", "b", "stage-2", "stage-2", "stage-2", "stage-2"]
    );

    let shot: PathBuf = tempfile::Builder::new()
        .prefix("kiln-timeline-")
        .tempdir()
        .unwrap()
        .keep()
        .join("timeline.png");
    let out = chromium_run(
        browser,
        k.root(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,900".into(),
            url,
        ],
    );
    ok(out, "chromium --screenshot");
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    println!("timeline screenshot: {}", shot.display());
}
