//! `/images/…`: list, inspect, history, tag, remove, prune, pull and
//! import (`create`), push, save (`get`) and load, search.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::StatusCode;
use kiln_cache::registry::progress::{Event as LayerEvent, LayerState};
use kiln_cache::registry::Platform;
use kiln_cache::Reference;
use kiln_engine::images::{
    ArchiveFormat, ImportOptions, PullOptions, PushOptions, Removed, Transfer,
};
use serde_json::{json, Value};

use super::body::{self, BodyWriter};
use super::reply::{self, ApiError};
use super::route::ApiRequest;
use super::Ctx;

pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One entry per image, with all its names (the engine lists a row per
/// name).
pub fn list(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let mut filters = kiln_engine::images::ImageFilters::default();
    let mut reference = None;
    for (key, value) in req.query.filters()? {
        if key == "reference" {
            reference = Some(value);
            continue;
        }
        filters
            .add(&key, &value)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let rows = ctx
        .engine
        .list_images_filtered(reference.as_deref(), &filters)?;
    let mut by_id: Vec<(String, Value)> = Vec::new();
    for row in rows {
        let id = row.id.to_string();
        let at = match by_id.iter().position(|(i, _)| *i == id) {
            Some(at) => at,
            None => {
                by_id.push((id.clone(), summary(&row)));
                by_id.len() - 1
            }
        };
        if let Some(name) = &row.name {
            let entry = &mut by_id[at].1;
            push_str(entry, "RepoTags", name.to_string());
            push_str(
                entry,
                "RepoDigests",
                format!("{}@{}", name.familiar_name(), row.digest),
            );
        }
    }
    let all: Vec<Value> = by_id.into_iter().map(|(_, v)| v).collect();
    reply::ok_json(&all)
}

fn summary(row: &kiln_engine::images::ImageRow) -> Value {
    json!({
        "Id": row.id.to_string(),
        "ParentId": "",
        "RepoTags": [],
        "RepoDigests": [],
        "Created": row.created.map(unix_seconds).unwrap_or(0),
        "Size": row.size,
        "VirtualSize": row.size,
        "SharedSize": -1,
        "Labels": {},
        "Containers": -1,
    })
}

fn push_str(entry: &mut Value, key: &str, text: String) {
    if let Some(list) = entry.get_mut(key).and_then(Value::as_array_mut) {
        if !list.iter().any(|v| v.as_str() == Some(&text)) {
            list.push(Value::String(text));
        }
    }
}

pub fn inspect(ctx: &Ctx, name: &str) -> reply::Result {
    reply::ok_json(&ctx.engine.inspect_image(name)?)
}

pub fn history(ctx: &Ctx, name: &str) -> reply::Result {
    let rows = ctx.engine.image_history(name)?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let created = r
                .created
                .as_deref()
                .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
                .map(unix_seconds)
                .unwrap_or(0);
            json!({
                "Id": r.id.as_ref().map_or("<missing>".to_string(), |d| d.to_string()),
                "Created": created,
                "CreatedBy": r.created_by,
                "Tags": null,
                "Size": r.size,
                "Comment": r.comment,
            })
        })
        .collect();
    reply::ok_json(&rows)
}

pub fn tag(ctx: &Ctx, name: &str, req: &ApiRequest) -> reply::Result {
    let repo = req
        .query
        .text("repo")
        .ok_or_else(|| ApiError::bad_request("repo is required"))?;
    let target = match req.query.text("tag") {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo,
    };
    ctx.engine.tag_image(name, &target)?;
    reply::status(StatusCode::CREATED)
}

pub fn remove(ctx: &Ctx, name: &str, req: &ApiRequest) -> reply::Result {
    let removed = ctx.engine.remove_image(name, req.query.flag("force"))?;
    let items: Vec<Value> = removed
        .iter()
        .map(|r| match r {
            Removed::Untagged(reference) => json!({"Untagged": reference.to_string()}),
            Removed::Deleted(id) => json!({"Deleted": id.to_string()}),
        })
        .collect();
    reply::ok_json(&items)
}

pub fn prune(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let (filters, dangling) = req
        .query
        .prune_filters(&["until", "label"], Some("dangling"))?;
    // Docker's `dangling=false` is `prune -a`.
    let all = matches!(dangling.as_deref(), Some("false" | "0"));
    let pruned = ctx.engine.prune_unused_images(all, &filters)?;
    let deleted: Vec<Value> = pruned
        .deleted
        .iter()
        .map(|id| json!({"Deleted": id}))
        .collect();
    reply::ok_json(&json!({"ImagesDeleted": deleted, "SpaceReclaimed": pruned.reclaimed}))
}

pub fn search(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    let term = req
        .query
        .text("term")
        .ok_or_else(|| ApiError::bad_request("term is required"))?;
    let limit = req.query.number::<usize>("limit")?.unwrap_or(25);
    let config = crate::config::registry_config(&ctx.globals)?;
    let found = ctx
        .engine
        .search(&config, &term, limit)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let items: Vec<Value> = found
        .iter()
        .map(|f| json!({"name": f.name, "description": "", "star_count": 0, "is_official": false, "is_automated": false}))
        .collect();
    reply::ok_json(&items)
}

/// `create`: a pull (`fromImage`) or an import of the body (`fromSrc=-`),
/// with Docker's JSON progress lines; a failure after the stream started
/// is an `error` line, as Docker sends it.
pub fn create(ctx: &Ctx, req: &mut ApiRequest) -> reply::Result {
    if let Some(src) = req.query.text("fromSrc") {
        return import(ctx, req, &src);
    }
    let image = req
        .query
        .text("fromImage")
        .ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?;
    let reference = pull_reference(&image, req.query.text("tag").as_deref())?;
    let platform = req
        .query
        .text("platform")
        .map(|p| Platform::parse(&p).map_err(|e| ApiError::bad_request(e.to_string())))
        .transpose()?;
    let registry = crate::config::registry_config(&ctx.globals)?;
    let engine = ctx.engine.clone();
    let (writer, body) = body::channel();
    std::thread::spawn(move || {
        let out = Mutex::new(writer);
        let opts = PullOptions {
            registry: &registry,
            platform: platform.as_ref(),
        };
        let pulled = engine.pull_image(&reference, &opts, &|t| pull_progress(&out, &reference, t));
        let line = match pulled {
            Ok(p) => {
                progress_line(&out, json!({"status": format!("Digest: {}", p.digest)}));
                let status = if p.newer {
                    "Downloaded newer image for"
                } else {
                    "Image is up to date for"
                };
                json!({"status": format!("Status: {status} {}", reference.familiar())})
            }
            Err(e) => error_line(&ApiError::from(e).message),
        };
        progress_line(&out, line);
    });
    reply::streamed("application/json", body)
}

/// `fromImage=busybox&tag=1.36`, or a tag that is a digest, or a name that
/// carries its own tag.
fn pull_reference(image: &str, tag: Option<&str>) -> Result<Reference, ApiError> {
    let text = match tag {
        Some(t) if t.starts_with("sha256:") => format!("{image}@{t}"),
        Some(t) => format!("{image}:{t}"),
        None => image.to_string(),
    };
    Reference::parse_normalized(&text).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn pull_progress(out: &Mutex<BodyWriter>, reference: &Reference, t: Transfer<'_>) {
    let line = match t {
        Transfer::Started => json!({
            "status": format!("Pulling from {}", reference.path()),
            "id": reference.tag().unwrap_or("latest"),
        }),
        Transfer::Layer(e) => layer_line(e),
    };
    progress_line(out, line);
}

fn layer_line(e: &LayerEvent) -> Value {
    let id = short_id(&e.digest.to_string());
    let (status, detail) = match &e.state {
        LayerState::Waiting => ("Waiting", json!({})),
        LayerState::Exists => ("Already exists", json!({})),
        LayerState::Downloading { done } => {
            ("Downloading", json!({"current": done, "total": e.size}))
        }
        LayerState::Extracting => ("Extracting", json!({})),
        LayerState::Complete => ("Pull complete", json!({})),
        LayerState::Mounted { .. } => ("Mounted from another repository", json!({})),
        LayerState::Uploading { done } => ("Pushing", json!({"current": done, "total": e.size})),
        LayerState::Pushed => ("Pushed", json!({})),
    };
    json!({"status": status, "progressDetail": detail, "id": id})
}

/// Docker's 12-hex-digit layer ID.
fn short_id(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.chars().take(12).collect()
}

fn progress_line(out: &Mutex<BodyWriter>, value: Value) {
    if let Ok(mut w) = out.lock() {
        let _ = writeln!(w, "{value}");
    }
}

pub fn error_line(message: &str) -> Value {
    json!({"errorDetail": {"message": message}, "error": message})
}

fn import(ctx: &Ctx, req: &mut ApiRequest, src: &str) -> reply::Result {
    if src != "-" {
        return Err(ApiError::bad_request(
            "importing from a URL is not supported: send the archive as the body (fromSrc=-)",
        ));
    }
    let reference = match req.query.text("repo") {
        Some(repo) => Some(pull_reference(&repo, req.query.text("tag").as_deref())?),
        None => None,
    };
    let changes = req
        .query
        .all("changes")
        .iter()
        .map(|c| {
            kiln_engine::images::parse_change(c).map_err(|e| ApiError::bad_request(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let opts = ImportOptions {
        reference,
        changes,
        message: req.query.text("message"),
        source: "-".into(),
    };
    let id = ctx.engine.import_image(&mut req.body, &opts)?;
    reply::ok_json(&json!({"status": id.to_string()}))
}

pub fn push(ctx: &Ctx, name: &str, req: &ApiRequest) -> reply::Result {
    let text = match req.query.text("tag") {
        Some(tag) => format!("{name}:{tag}"),
        None => name.to_string(),
    };
    let reference =
        Reference::parse_normalized(&text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let registry = crate::config::registry_config(&ctx.globals)?;
    let engine = ctx.engine.clone();
    let (writer, body) = body::channel();
    std::thread::spawn(move || {
        let out = Mutex::new(writer);
        let opts = PushOptions {
            registry: &registry,
            chunk_size: None,
        };
        let pushed = engine.push_image(&reference, &opts, &|t| match t {
            Transfer::Started => progress_line(
                &out,
                json!({"status": format!("The push refers to repository [{}]", reference.familiar_name())}),
            ),
            Transfer::Layer(e) => progress_line(&out, layer_line(e)),
        });
        let line = match pushed {
            Ok(p) => {
                let tag = reference.tag().unwrap_or("latest");
                // Two lines, as dockerd sends them: clients show the status
                // and hand the aux object to their callback unshown.
                progress_line(
                    &out,
                    json!({"status": format!("{tag}: digest: {} size: {}", p.digest, p.size)}),
                );
                json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": p.digest.to_string(), "Size": p.size}})
            }
            Err(e) => error_line(&ApiError::from(e).message),
        };
        progress_line(&out, line);
    });
    reply::streamed("application/json", body)
}

/// `save`: the archive streamed as it is written.
pub fn get(ctx: &Ctx, req: &ApiRequest) -> reply::Result {
    save(ctx, req.query.all("names"))
}

pub fn get_one(ctx: &Ctx, name: &str) -> reply::Result {
    save(ctx, vec![name.to_string()])
}

fn save(ctx: &Ctx, names: Vec<String>) -> reply::Result {
    if names.is_empty() {
        return Err(ApiError::bad_request("names is required"));
    }
    // Every name is checked before the 200 goes out.
    for n in &names {
        ctx.engine.inspect_image(n)?;
    }
    let engine = ctx.engine.clone();
    let (writer, body) = body::channel();
    std::thread::spawn(move || {
        // A failure mid-stream can only cut the archive short; the client
        // sees a truncated tar, as with Docker.
        let _ = engine.save_images(&names, ArchiveFormat::Docker, writer);
    });
    reply::streamed("application/x-tar", body)
}

pub fn load(ctx: &Ctx, req: &mut ApiRequest) -> reply::Result {
    // `quiet` silences progress bars, which a load has none of: the
    // "Loaded image" lines go out either way, as dockerd sends them.
    let loaded = ctx.engine.load_images(&mut req.body)?;
    let mut lines = String::new();
    for image in &loaded {
        let names: Vec<String> = image.names.iter().map(|n| n.familiar()).collect();
        let text = if names.is_empty() {
            format!("Loaded image ID: {}\n", image.id)
        } else {
            names
                .iter()
                .map(|n| format!("Loaded image: {n}\n"))
                .collect()
        };
        lines.push_str(&format!("{}\n", json!({"stream": text})));
    }
    Ok(super::reply::Reply::Http(super::reply::json_lines(lines)))
}
