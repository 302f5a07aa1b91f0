//! `/containers/…`: create, list, inspect, the lifecycle (start, stop,
//! restart, kill, pause, wait, rename, remove, prune), what can be seen of
//! one (logs, top, changes, stats, export, archive) and attach.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyper::{Method, StatusCode};
use kiln_engine::container::{
    AttachOptions, CommitOptions, ContainerSize, DetachKeys, KillOptions, ListFilter, ListOptions,
    LogsOptions, RemoveOptions, StartOptions, StopOptions, UpdateOptions,
};
use kiln_runtime::container::logs::Stream;
use kiln_runtime::container::state::{Container, Status};
use serde_json::{json, Value};

use super::body;
use super::hijack::{self, Conn, Hijack};
use super::images::unix_seconds;
use super::reply::{self, ApiError, Reply};
use super::route::{not_found, ApiRequest};
use super::Ctx;

/// Containers a client attached to before starting them (the docker CLI's
/// `run`): their start must keep the output from the first byte, and
/// tells each waiting attach at once.
#[derive(Default)]
pub struct PendingAttaches(Mutex<HashMap<String, Vec<mpsc::Sender<()>>>>);

impl PendingAttaches {
    fn add(&self, id: &str) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel();
        if let Ok(mut map) = self.0.lock() {
            map.entry(id.to_string()).or_default().push(tx);
        }
        rx
    }

    /// The attaches waiting for `id`'s start, taken off the list.
    fn take(&self, id: &str) -> Vec<mpsc::Sender<()>> {
        self.0
            .lock()
            .ok()
            .and_then(|mut map| map.remove(id))
            .unwrap_or_default()
    }
}

pub fn route(
    ctx: &Ctx,
    method: &Method,
    id: &str,
    rest: &[&str],
    req: &mut ApiRequest,
) -> reply::Result {
    let get = *method == Method::GET || *method == Method::HEAD;
    let post = *method == Method::POST;
    match rest {
        ["json"] if get => reply::ok_json(&ctx.engine.inspect_container(id)?),
        [] if *method == Method::DELETE => remove(ctx, id, req),
        ["start"] if post => start(ctx, id),
        ["stop"] if post => stop(ctx, id, req),
        ["restart"] if post => restart(ctx, id, req),
        ["kill"] if post => kill(ctx, id, req),
        ["pause"] if post => paused(ctx, id, true),
        ["unpause"] if post => paused(ctx, id, false),
        ["wait"] if post => wait(ctx, id, req),
        ["rename"] if post => rename(ctx, id, req),
        ["update"] if post => update(ctx, id, req),
        ["resize"] if post => resize(ctx, id, req),
        ["attach"] if post => attach(ctx, id, req),
        ["exec"] if post => super::exec::create(ctx, id, req),
        ["logs"] if get => logs(ctx, id, req),
        ["top"] if get => top(ctx, id),
        ["changes"] if get => changes(ctx, id),
        ["stats"] if get => stats(ctx, id, req),
        ["export"] if get => export(ctx, id),
        ["archive"] if get => archive_get(ctx, id, req),
        ["archive"] if *method == Method::HEAD => archive_get(ctx, id, req),
        ["archive"] if *method == Method::PUT => archive_put(ctx, id, req),
        _ => Err(not_found(method, &[&["containers", id], rest].concat())),
    }
}

pub fn create(ctx: &Ctx, req: &mut ApiRequest) -> reply::Result {
    let body: kiln_engine::container::CreateBody = req.json()?;
    let name = req.query.text("name");
    let opts = body.into_options(name)?;
    opts.check()?;
    // A missing image is the engine's ImageNotFound, Docker's 404, on
    // which the docker CLI pulls and asks again.
    let c = ctx.engine.create(&opts)?;
    reply::ok_json_status(
        StatusCode::CREATED,
        &json!({"Id": c.record.id, "Warnings": []}),
    )
}

/// One container as `GET /containers/json` lists it.
pub fn summary(engine: &kiln_engine::Engine, c: &Container, size: Option<&ContainerSize>) -> Value {
    let r = &c.record;
    let ports: Vec<Value> = c
        .state
        .ports
        .iter()
        .map(|p| {
            json!({"IP": p.host_ip, "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto.as_str()})
        })
        .collect();
    let created = humantime::parse_rfc3339_weak(&r.created)
        .map(unix_seconds)
        .unwrap_or(0);
    let network = r.network.name().to_string();
    let mut value = json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.image,
        "ImageID": r.image_id,
        "Command": r.command(),
        "Created": created,
        "Ports": ports,
        "Labels": r.labels(),
        "State": c.state.status.as_str(),
        "Status": kiln_engine::container::status_text(&c.state),
        "HostConfig": {"NetworkMode": if network == "bridge" { "default".to_string() } else { network.clone() }},
        "NetworkSettings": {"Networks": engine.network_settings(c)["Networks"].clone()},
        "Mounts": r.mounts.iter().map(|m| json!({
            "Type": m.kind, "Name": m.name, "Source": m.source, "Destination": m.destination,
        })).collect::<Vec<_>>(),
    });
    if let (Some(size), Some(map)) = (size, value.as_object_mut()) {
        map.insert("SizeRw".into(), json!(size.writable));
        map.insert("SizeRootFs".into(), json!(size.root));
    }
    value
}

pub fn list(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let filters = req
        .query
        .filters()?
        .iter()
        .map(|(k, v)| ListFilter::parse(k, v))
        .collect::<Result<Vec<_>, _>>()?;
    let limit = req.query.number::<i64>("limit")?.filter(|n| *n > 0);
    let opts = ListOptions {
        all: req.query.flag("all"),
        last: limit.map(|n| n as usize),
        filters,
    };
    let list = ctx.engine.list(&opts)?;
    let sizes = if req.query.flag("size") {
        Some(ctx.engine.container_sizes(&list)?)
    } else {
        None
    };
    let items: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, c)| summary(&ctx.engine, c, sizes.as_ref().and_then(|s| s.get(i))))
        .collect();
    reply::ok_json(&items)
}

fn start(ctx: &Ctx, id: &str) -> reply::Result {
    let c = ctx.engine.container(id)?;
    if c.state.status.is_live() {
        return reply::status(StatusCode::NOT_MODIFIED);
    }
    let attaches = ctx.pending.take(&c.record.id);
    let attach = !attaches.is_empty();
    ctx.engine.start(id, StartOptions { attach })?;
    for a in attaches {
        let _ = a.send(());
    }
    reply::no_content()
}

fn timeout(req: &ApiRequest) -> reply::Result<StopOptions> {
    let t = req.query.number::<i64>("t")?;
    Ok(StopOptions {
        timeout: t.map(|t| Duration::from_secs(t.max(0) as u64)),
    })
}

fn stop(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let opts = timeout(req)?;
    let c = ctx.engine.container(id)?;
    if !c.state.status.is_live() {
        return reply::status(StatusCode::NOT_MODIFIED);
    }
    ctx.engine.stop(id, opts)?;
    reply::no_content()
}

fn restart(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    ctx.engine.restart(id, timeout(req)?)?;
    reply::no_content()
}

fn kill(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let opts = match req.query.text("signal") {
        Some(s) => KillOptions {
            signal: s
                .parse()
                .map_err(|e: kiln_engine::Error| ApiError::bad_request(e.to_string()))?,
        },
        None => KillOptions::default(),
    };
    let c = ctx.engine.container(id)?;
    if !c.state.status.is_live() {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            c.record.id
        )));
    }
    ctx.engine.kill(id, opts)?;
    reply::no_content()
}

fn paused(ctx: &Ctx, id: &str, paused: bool) -> reply::Result {
    ctx.engine
        .set_paused(id, paused)
        .map_err(|e| ApiError::conflict(ApiError::from(e).message))?;
    reply::no_content()
}

fn rename(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let name = req
        .query
        .text("name")
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    ctx.engine.rename(id, &name)?;
    reply::no_content()
}

fn remove(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let opts = RemoveOptions {
        force: req.query.flag("force"),
        volumes: req.query.flag("v"),
    };
    let c = ctx.engine.container(id)?;
    if c.state.status.is_live() && !opts.force {
        return Err(ApiError::conflict(format!(
            "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
            c.record.id
        )));
    }
    ctx.engine.remove(id, opts)?;
    reply::no_content()
}

pub fn prune(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let (filters, _) = req.query.prune_filters(&["until", "label"], None)?;
    let pruned = ctx.engine.prune_containers(&filters)?;
    reply::ok_json(
        &json!({"ContainersDeleted": pruned.deleted, "SpaceReclaimed": pruned.reclaimed}),
    )
}

fn update(ctx: &Ctx, id: &str, req: &mut ApiRequest) -> reply::Result {
    #[derive(serde::Deserialize, Default)]
    #[serde(default, rename_all = "PascalCase")]
    struct Body {
        memory: i64,
        memory_swap: i64,
        nano_cpus: i64,
        cpu_shares: i64,
        pids_limit: Option<i64>,
        restart_policy: Option<kiln_engine::container::create_json::RestartPolicy>,
    }
    let b: Body = req.json()?;
    let opts = UpdateOptions {
        memory: (b.memory > 0).then(|| b.memory.to_string()),
        memory_swap: (b.memory_swap != 0).then(|| b.memory_swap.to_string()),
        cpus: (b.nano_cpus > 0).then(|| b.nano_cpus as f64 / 1e9),
        cpu_shares: (b.cpu_shares > 0).then_some(b.cpu_shares as u64),
        pids_limit: b.pids_limit,
        restart: b
            .restart_policy
            .filter(|p| !p.name.is_empty())
            .map(|p| kiln_engine::container::create_json::restart(Some(p))),
    };
    opts.check()?;
    ctx.engine.update(id, &opts)?;
    reply::ok_json(&json!({"Warnings": []}))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    NotRunning,
    NextExit,
    Removed,
}

/// The 200 goes out at once (Docker's clients wait on it while they start
/// the container); the status follows when the condition is met.
fn wait(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let condition = match req.query.get("condition").unwrap_or("") {
        "" | "not-running" => Condition::NotRunning,
        "next-exit" => Condition::NextExit,
        "removed" => Condition::Removed,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: {other:?}"
            )))
        }
    };
    let c = ctx.engine.container(id)?;
    let engine = ctx.engine.clone();
    let (mut writer, body) = body::channel();
    std::thread::spawn(move || {
        let result = match wait_for(&engine, &c, condition) {
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(message) => json!({"StatusCode": -1, "Error": {"Message": message}}),
        };
        let _ = writeln!(writer, "{result}");
    });
    reply::streamed("application/json", body)
}

/// Polls the container's state. The wait registers as a waiter first,
/// so an auto-removing monitor keeps the finished container until its
/// exit is read here.
fn wait_for(
    engine: &kiln_engine::Engine,
    start: &Container,
    condition: Condition,
) -> Result<i32, String> {
    let mut waiter =
        kiln_runtime::container::lifecycle::expect_waiter(&start.dir).map_err(|e| e.to_string())?;
    let mut poll = Backoff::default();
    let first_finish = start.state.finished_at.clone();
    let mut code = None;
    let mut last = start.state.status;
    loop {
        let Ok(c) = engine.container(&start.record.id) else {
            return Ok(code.unwrap_or(0));
        };
        // A change (a start, an exit) is often followed by the next one
        // within milliseconds: look again soon.
        if c.state.status != last {
            last = c.state.status;
            poll.reset();
        }
        let live = c.state.status.is_live();
        let ended_again = c.state.finished_at != first_finish && c.state.status == Status::Exited;
        if ended_again || (!live && c.state.status != Status::Created) {
            code = Some(c.state.exit_code);
        }
        match condition {
            Condition::NotRunning if !live => return Ok(c.state.exit_code),
            Condition::NextExit if ended_again => return Ok(c.state.exit_code),
            Condition::Removed if ended_again && waiter.is_held() => {
                // The removal follows the release at once.
                waiter.release();
                poll.reset();
            }
            _ => {}
        }
        poll.sleep();
    }
}

/// Sleeps between looks at a container's state: short at first, since a
/// client waits on most ends within milliseconds, then longer, so a
/// container that runs for hours is not read hundreds of times a second.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff(Duration::from_millis(1))
    }
}

impl Backoff {
    fn reset(&mut self) {
        *self = Backoff::default();
    }

    fn sleep(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(Duration::from_millis(50));
    }
}

fn resize(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let rows = req.query.number::<u16>("h")?.unwrap_or(0);
    let cols = req.query.number::<u16>("w")?.unwrap_or(0);
    let c = ctx.engine.container(id)?;
    if !c.state.status.is_live() {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            c.record.id
        )));
    }
    if c.record.tty {
        kiln_runtime::container::attach::resize(&c.dir, rows, cols)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    reply::status(StatusCode::OK)
}

/// Attach over a hijacked connection. Before the container's start (the
/// docker CLI's `run`) the attach waits for the start, which then keeps
/// the output from its first byte for it.
fn attach(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let c = ctx.engine.container(id)?;
    let q = &req.query;
    let detach_keys = match q.text("detachKeys") {
        Some(k) => k
            .parse::<DetachKeys>()
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => DetachKeys::default(),
    };
    let waiting =
        c.state.status == Status::Created || (!c.state.status.is_live() && !q.flag("logs"));
    let start_signal = waiting.then(|| ctx.pending.add(&c.record.id));
    let opts = AttachOptions {
        stdin: q.flag("stdin"),
        detach_keys,
        from_start: waiting || q.flag("logs"),
    };
    let (want_out, want_err) = (q.flag("stdout"), q.flag("stderr"));
    let tty = c.record.tty;
    let engine = ctx.engine.clone();
    Ok(Reply::Hijack(Hijack::new(tty, move |conn: Conn| {
        if let Some(signal) = start_signal {
            if !started(&engine, &c, &signal) {
                return;
            }
        }
        let Conn { input, output } = conn;
        let input = opts.stdin.then_some(input);
        let (mut out, mut err): (Box<dyn Write + Send>, Box<dyn Write + Send>) = if tty {
            let shared = Arc::new(Mutex::new(output));
            (Box::new(Shared(shared.clone())), Box::new(Shared(shared)))
        } else {
            let (o, e) = hijack::multiplexed(output);
            (Box::new(o), Box::new(e))
        };
        let mut sink = std::io::sink();
        let out: &mut dyn Write = if want_out { &mut out } else { &mut sink };
        let mut sink2 = std::io::sink();
        let err: &mut dyn Write = if want_err { &mut err } else { &mut sink2 };
        let _ = engine.relay_streams(&c.record.id, &opts, input, out, err);
    })))
}

/// Waits for a created container's start: told at once by this server's
/// `start`, else seen in its state (a start by another kiln); false if
/// it was removed first.
fn started(engine: &kiln_engine::Engine, c: &Container, signal: &mpsc::Receiver<()>) -> bool {
    const LOOK: Duration = Duration::from_millis(20);
    loop {
        match signal.recv_timeout(LOOK) {
            Ok(()) => return true,
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(LOOK),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        match engine.container(&c.record.id) {
            Ok(now)
                if now.state.status != Status::Created
                    || now.state.started_at != c.state.started_at =>
            {
                return true
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// Both outputs of a TTY container go to one raw stream.
struct Shared(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut w = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("output lock poisoned"))?;
        w.write_all(buf)?;
        w.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let q = &req.query;
    let (want_out, want_err) = (q.flag("stdout"), q.flag("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let time = |key: &str| -> reply::Result<Option<SystemTime>> {
        match q.number::<f64>(key)? {
            Some(t) if t > 0.0 => Ok(Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t))),
            _ => Ok(None),
        }
    };
    let tail = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid tail {n:?}")))?,
        ),
    };
    let opts = LogsOptions {
        follow: q.flag("follow"),
        since: time("since")?,
        tail,
        until: time("until")?,
    };
    let c = ctx.engine.container(id)?;
    let entries = ctx.engine.logs(id, &opts)?;
    let timestamps = q.flag("timestamps");
    let tty = c.record.tty;
    let (writer, body) = body::channel();
    std::thread::spawn(move || {
        let (mut out, mut err) = hijack::multiplexed(writer.clone());
        let mut raw = writer;
        for entry in entries {
            let Ok(entry) = entry else { return };
            let wanted = match entry.stream {
                Stream::Stdout => want_out,
                Stream::Stderr => want_err,
            };
            if !wanted {
                continue;
            }
            let text = if timestamps {
                format!("{} {}", entry.time, entry.log)
            } else {
                entry.log
            };
            let w: &mut dyn Write = match (tty, entry.stream) {
                (true, _) => &mut raw,
                (false, Stream::Stdout) => &mut out,
                (false, Stream::Stderr) => &mut err,
            };
            if w.write_all(text.as_bytes()).is_err() {
                return;
            }
        }
    });
    let kind = if tty {
        hijack::RAW
    } else {
        hijack::MULTIPLEXED
    };
    reply::streamed(kind, body)
}

fn top(ctx: &Ctx, id: &str) -> reply::Result {
    let procs = ctx.engine.top(id)?;
    let rows: Vec<Vec<String>> = procs
        .iter()
        .map(|p| {
            vec![
                p.uid.clone(),
                p.pid.to_string(),
                p.ppid.clone(),
                p.args.join(" "),
            ]
        })
        .collect();
    reply::ok_json(&json!({"Titles": ["UID", "PID", "PPID", "CMD"], "Processes": rows}))
}

fn changes(ctx: &Ctx, id: &str) -> reply::Result {
    use kiln_engine::container::ChangeKind;
    let list: Vec<Value> = ctx
        .engine
        .changes(id)?
        .iter()
        .map(|(kind, path)| {
            let k = match kind {
                ChangeKind::Changed => 0,
                ChangeKind::Added => 1,
                ChangeKind::Deleted => 2,
            };
            json!({"Path": path, "Kind": k})
        })
        .collect();
    reply::ok_json(&list)
}

fn stats(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    use kiln_engine::container::stats::sample;
    let c = ctx.engine.container(id)?;
    let stream = req
        .query
        .get("stream")
        .is_none_or(|v| v != "0" && v != "false");
    let (mut writer, body) = body::channel();
    std::thread::spawn(move || {
        let mut before = sample(&c);
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let now = sample(&c);
            let value = stats_json(&before, &now);
            if writeln!(writer, "{value}").is_err() || !stream {
                return;
            }
            before = now;
        }
    });
    reply::streamed("application/json", body)
}

fn export(ctx: &Ctx, id: &str) -> reply::Result {
    ctx.engine.container(id)?;
    let engine = ctx.engine.clone();
    let id = id.to_string();
    let (writer, body) = body::channel();
    std::thread::spawn(move || {
        let _ = engine.export(&id, writer);
    });
    reply::streamed("application/x-tar", body)
}

fn archive_get(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let path = req
        .query
        .text("path")
        .ok_or_else(|| ApiError::bad_request("path is required"))?;
    let stat = ctx.engine.stat_path(id, &path)?;
    let header = base64_stat(&stat);
    if req.method == Method::HEAD {
        let mut r = hyper::Response::new(body::empty());
        r.headers_mut()
            .insert("X-Docker-Container-Path-Stat", header);
        return Ok(Reply::Http(r));
    }
    let engine = ctx.engine.clone();
    let id = id.to_string();
    let (writer, body) = body::channel();
    std::thread::spawn(move || {
        let _ = engine.copy_out_tar(&id, &path, writer);
    });
    let mut r = hyper::Response::new(body);
    r.headers_mut()
        .insert("X-Docker-Container-Path-Stat", header);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-tar"),
    );
    Ok(Reply::Http(r))
}

fn base64_stat(stat: &Value) -> hyper::header::HeaderValue {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(stat.to_string());
    hyper::header::HeaderValue::from_str(&text)
        .unwrap_or(hyper::header::HeaderValue::from_static(""))
}

fn archive_put(ctx: &Ctx, id: &str, req: &mut ApiRequest) -> reply::Result {
    let path = req
        .query
        .text("path")
        .ok_or_else(|| ApiError::bad_request("path is required"))?;
    ctx.engine.copy_in_tar(id, &path, &mut req.body)?;
    reply::status(StatusCode::OK)
}

pub fn commit(ctx: &Ctx, req: &mut ApiRequest) -> reply::Result {
    let q = &req.query;
    let container = q
        .text("container")
        .ok_or_else(|| ApiError::bad_request("container is required"))?;
    let mut tags = Vec::new();
    if let Some(repo) = q.text("repo") {
        let text = match q.text("tag") {
            Some(t) => format!("{repo}:{t}"),
            None => repo,
        };
        tags.push(
            kiln_cache::Reference::parse_normalized(&text)
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        );
    }
    let changes = q
        .all("changes")
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| {
            kiln_engine::images::parse_change(c).map_err(|e| ApiError::bad_request(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let opts = CommitOptions {
        changes,
        message: q.text("comment"),
        author: q.text("author"),
        pause: q.get("pause").is_none_or(|p| p != "0" && p != "false"),
        tags,
    };
    let image = ctx.engine.commit(&container, &opts)?;
    reply::ok_json_status(StatusCode::CREATED, &json!({"Id": image.id().to_string()}))
}

/// One stats sample in Docker's shape: the previous sample is `precpu`,
/// so a client computes the CPU share as Docker's CLI does.
fn stats_json(
    before: &kiln_engine::container::stats::Sample,
    now: &kiln_engine::container::stats::Sample,
) -> Value {
    let cpu = |s: &kiln_engine::container::stats::Sample| {
        json!({
            "cpu_usage": {"total_usage": s.usage.cpu_ns},
            "system_cpu_usage": s.system_ns,
            "online_cpus": s.online_cpus,
        })
    };
    let u = &now.usage;
    json!({
        "read": humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        "id": now.id,
        "name": format!("/{}", now.name),
        "cpu_stats": cpu(now),
        "precpu_stats": cpu(before),
        "memory_stats": {"usage": u.memory, "limit": u.memory_limit.unwrap_or(now.mem_total)},
        "pids_stats": {"current": u.pids},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"op": "Read", "value": u.block_read},
            {"op": "Write", "value": u.block_write},
        ]},
        "networks": {"eth0": {"rx_bytes": now.net_rx, "tx_bytes": now.net_tx}},
    })
}
