//! `POST /build`: Docker's classic build API. The context tar in the body
//! goes to `kiln build -` (which reads a hostile tar as carefully as it
//! reads one on stdin), run as a child of this server on the same store;
//! its plain progress comes back as Docker's `{"stream": …}` lines, then
//! the image ID as `aux` and the "Successfully built" line that
//! docker-compose reads. A client that goes away cancels the build.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use super::body;
use super::images::error_line;
use super::reply::{self, ApiError};
use super::route::ApiRequest;
use super::Ctx;

pub fn build(ctx: &Ctx, req: &mut ApiRequest) -> reply::Result {
    let args = arguments(ctx, req)?;
    let quiet = req.query.flag("q");
    let tags = req.query.all("t");
    let temp = tempfile::tempdir()
        .map_err(|e| ApiError::internal(format!("creating a temporary directory: {e}")))?;
    let iidfile = temp.path().join("iid");
    // This binary even after a newer one replaced it on disk.
    let mut child = Command::new("/proc/self/exe")
        .args(&args)
        .arg("--iidfile")
        .arg(&iidfile)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ApiError::internal(format!("starting the build: {e}")))?;
    let (Some(mut stdin), Some(stderr)) = (child.stdin.take(), child.stderr.take()) else {
        return Err(ApiError::internal("the build's pipes were not made"));
    };
    let mut context = std::mem::replace(&mut req.body, super::body::closed());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut context, &mut stdin);
    });
    let (mut writer, body) = body::channel();
    let pid = Pid::from_raw(child.id() as i32);
    std::thread::spawn(move || {
        let mut last = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            last.push(line.clone());
            if last.len() > 20 {
                last.remove(0);
            }
            if !quiet && send(&mut writer, json!({"stream": format!("{line}\n")})).is_err() {
                let _ = kill(pid, Signal::SIGTERM);
            }
        }
        let status = child.wait();
        let id = std::fs::read_to_string(&iidfile).unwrap_or_default();
        let _keep = temp;
        match status {
            Ok(s) if s.success() && !id.trim().is_empty() => {
                let _ = finish(&mut writer, id.trim(), &tags);
            }
            _ => {
                let message = last
                    .iter()
                    .rev()
                    .find(|l| l.contains("error"))
                    .or(last.last())
                    .cloned();
                let _ = send(
                    &mut writer,
                    error_line(&message.unwrap_or_else(|| "the build failed".into())),
                );
            }
        }
    });
    reply::streamed("application/json", body)
}

fn send(w: &mut impl Write, value: Value) -> std::io::Result<()> {
    writeln!(w, "{value}")
}

fn finish(w: &mut impl Write, id: &str, tags: &[String]) -> std::io::Result<()> {
    send(w, json!({"aux": {"ID": id}}))?;
    let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
    send(
        w,
        json!({"stream": format!("Successfully built {short}\n")}),
    )?;
    for t in tags {
        send(w, json!({"stream": format!("Successfully tagged {t}\n")}))?;
    }
    Ok(())
}

/// The query as `kiln build` flags; what kiln's build cannot honour is
/// refused by name.
fn arguments(ctx: &Ctx, req: &ApiRequest) -> reply::Result<Vec<String>> {
    let q = &req.query;
    if q.get("version") == Some("2") {
        return Err(ApiError::bad_request(
            "BuildKit sessions (version=2) are not served: use the classic builder (DOCKER_BUILDKIT=0), or kiln build itself",
        ));
    }
    if q.text("remote").is_some() {
        return Err(ApiError::bad_request(
            "remote contexts are not served: send the context tar as the body",
        ));
    }
    if q.text("extrahosts").is_some() {
        return Err(ApiError::bad_request(
            "extrahosts is not supported by kiln's builds",
        ));
    }
    let mut args = vec!["--root".to_string(), ctx.globals.root.display().to_string()];
    if let Some(config) = &ctx.globals.config {
        args.extend(["--config".into(), config.display().to_string()]);
    }
    args.extend(["build".into(), "--progress=plain".into()]);
    let dockerfile = q.text("dockerfile").unwrap_or_else(|| "Dockerfile".into());
    if dockerfile.starts_with('/') || dockerfile.split('/').any(|p| p == "..") {
        return Err(ApiError::bad_request(format!(
            "dockerfile {dockerfile:?} must be a path inside the context"
        )));
    }
    args.extend(["-f".into(), dockerfile]);
    for t in q.all("t") {
        args.extend(["-t".into(), t]);
    }
    for (k, v) in q.string_map("buildargs")? {
        args.extend(["--build-arg".into(), format!("{k}={v}")]);
    }
    for (k, v) in q.string_map("labels")? {
        args.extend(["--label".into(), format!("{k}={v}")]);
    }
    if let Some(target) = q.text("target") {
        args.extend(["--target".into(), target]);
    }
    if let Some(platform) = q.text("platform") {
        args.extend(["--platform".into(), platform]);
    }
    match q.text("networkmode").as_deref() {
        None | Some("default") | Some("bridge") => {}
        Some("host") => args.extend([
            "--network".into(),
            "host".into(),
            "--allow".into(),
            "network.host".into(),
        ]),
        Some("none") => args.extend(["--network".into(), "none".into()]),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "networkmode {other:?} is not supported"
            )))
        }
    }
    if q.flag("nocache") {
        args.push("--no-cache".into());
    }
    if q.flag("pull") {
        args.push("--pull".into());
    }
    if let Some(from) = q.text("cachefrom") {
        let refs: Vec<String> = serde_json::from_str(&from)
            .map_err(|e| ApiError::bad_request(format!("invalid cachefrom: {e}")))?;
        for r in refs {
            args.extend(["--cache-from".into(), format!("type=registry,ref={r}")]);
        }
    }
    Ok(args)
}

/// `POST /build/prune`: the build cache, as `kiln cache prune` prunes it.
pub fn prune(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let all = req.query.flag("all");
    let report = ctx.engine.prune_build_cache(all)?;
    reply::ok_json(&json!({"CachesDeleted": report.deleted, "SpaceReclaimed": report.reclaimed}))
}
