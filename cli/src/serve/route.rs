//! From a request to its handler: the optional `/vX.Y` prefix is checked
//! and dropped, the path split into segments (each percent-decoded), and
//! the method and segments matched against Docker's routes. Every handler
//! runs on a blocking thread: the engine's calls block.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, UPGRADE};
use hyper::{Method, Request, Response};

use super::body::{self, Body, BodyReader};
use super::query::Query;
use super::reply::{self, ApiError, Reply};
use super::{build, containers, exec, images, networks, system, volumes, Ctx, API_VERSION};

/// One request, as handlers see it.
pub struct ApiRequest {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Query,
    pub body: BodyReader,
}

impl ApiRequest {
    /// The body as JSON; an empty body is `T::default()`'s JSON `{}`.
    pub fn json<T: serde::de::DeserializeOwned>(&mut self) -> reply::Result<T> {
        const LIMIT: usize = 4 << 20;
        let data = body::read_all(&mut self.body, LIMIT)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let data = if data.iter().all(u8::is_ascii_whitespace) {
            b"{}".to_vec()
        } else {
            data
        };
        serde_json::from_slice(&data)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

pub async fn dispatch(
    ctx: Arc<Ctx>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let upgrade = req
        .headers()
        .contains_key(UPGRADE)
        .then(|| hyper::upgrade::on(&mut req));
    let (parts, incoming) = req.into_parts();
    let started = std::time::Instant::now();
    let line = ctx
        .globals
        .debug
        .then(|| format!("{} {}", parts.method, parts.uri));
    let segments = match segments(parts.uri.path()) {
        Ok(s) => s,
        Err(e) => return Ok(with_headers(e.into_response())),
    };
    let request = ApiRequest {
        method: parts.method,
        segments,
        query: Query::parse(parts.uri.query()),
        body: body::reader(incoming),
    };
    let handled = tokio::task::spawn_blocking(move || handle(&ctx, request)).await;
    let response = match handled {
        Ok(Ok(Reply::Http(r))) => r,
        Ok(Ok(Reply::Hijack(h))) => h.respond(upgrade),
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::internal("the request's handler failed").into_response(),
    };
    if let Some(line) = line {
        // Until the head is ready: a streamed body goes on after it.
        eprintln!(
            "kiln serve: {line} -> {} in {:.1} ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(with_headers(response))
}

fn with_headers(mut response: Response<Body>) -> Response<Body> {
    let h = response.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("kiln/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    response
}

/// The path's segments after the version prefix, which must not be newer
/// than the version served.
fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    let mut parts: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    if let Some(version) = parts.first().and_then(|p| p.strip_prefix('v')) {
        if let Some((major, minor)) = version.split_once('.') {
            if let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>()) {
                if (major, minor) > (1, 41) {
                    return Err(ApiError::bad_request(format!(
                        "client version {version} is too new. Maximum supported API version is {API_VERSION}"
                    )));
                }
                parts.remove(0);
            }
        }
    }
    Ok(parts)
}

fn handle(ctx: &Ctx, mut req: ApiRequest) -> reply::Result {
    let method = req.method.clone();
    let segs: Vec<String> = std::mem::take(&mut req.segments);
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let is = |m: &Method| method == *m;
    let get = is(&Method::GET) || is(&Method::HEAD);
    let post = is(&Method::POST);
    let delete = is(&Method::DELETE);
    match s.as_slice() {
        ["_ping"] if get => system::ping(),
        ["version"] if get => system::version(ctx),
        ["info"] if get => system::info(ctx),
        ["events"] if get => system::events(ctx, &req),
        ["system", "df"] if get => system::df(ctx),
        ["auth"] if post => system::auth(ctx, &mut req),

        ["containers", "json"] if get => containers::list(ctx, &req),
        ["containers", "create"] if post => containers::create(ctx, &mut req),
        ["containers", "prune"] if post => containers::prune(ctx, &req),
        ["containers", id, rest @ ..] => containers::route(ctx, &method, id, rest, &mut req),
        ["exec", id, rest @ ..] => exec::route(ctx, &method, id, rest, &mut req),

        ["images", "json"] if get => images::list(ctx, &req),
        ["images", "create"] if post => images::create(ctx, &mut req),
        ["images", "load"] if post => images::load(ctx, &mut req),
        ["images", "get"] if get => images::get(ctx, &req),
        ["images", "prune"] if post => images::prune(ctx, &req),
        ["images", "search"] if get => images::search(ctx, &req),
        ["images", name @ .., "json"] if get && !name.is_empty() => {
            images::inspect(ctx, &name.join("/"))
        }
        ["images", name @ .., "history"] if get && !name.is_empty() => {
            images::history(ctx, &name.join("/"))
        }
        ["images", name @ .., "tag"] if post && !name.is_empty() => {
            images::tag(ctx, &name.join("/"), &req)
        }
        ["images", name @ .., "push"] if post && !name.is_empty() => {
            images::push(ctx, &name.join("/"), &req)
        }
        ["images", name @ .., "get"] if get && !name.is_empty() => {
            images::get_one(ctx, &name.join("/"))
        }
        ["images", name @ ..] if delete && !name.is_empty() => {
            images::remove(ctx, &name.join("/"), &req)
        }
        ["build"] if post => build::build(ctx, &mut req),
        ["build", "prune"] if post => build::prune(ctx, &req),
        ["commit"] if post => containers::commit(ctx, &mut req),

        ["volumes"] if get => volumes::list(ctx, &req),
        ["volumes", "create"] if post => volumes::create(ctx, &mut req),
        ["volumes", "prune"] if post => volumes::prune(ctx, &req),
        ["volumes", name] if get => volumes::inspect(ctx, name),
        ["volumes", name] if delete => volumes::remove(ctx, name, &req),

        ["networks"] if get => networks::list(ctx, &req),
        ["networks", "create"] if post => networks::create(ctx, &mut req),
        ["networks", "prune"] if post => networks::prune(ctx, &req),
        ["networks", name] if get => networks::inspect(ctx, name),
        ["networks", name] if delete => networks::remove(ctx, name),
        ["networks", name, "connect"] if post => networks::connect(ctx, name, &mut req),
        ["networks", name, "disconnect"] if post => networks::disconnect(ctx, name, &mut req),
        _ => Err(not_found(&method, &s)),
    }
}

/// Docker's answer for a route it does not have.
pub fn not_found(method: &Method, segments: &[&str]) -> ApiError {
    ApiError::not_found(format!("page not found: {method} /{}", segments.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix_is_dropped_and_checked() {
        assert_eq!(
            segments("/v1.41/containers/json").unwrap(),
            ["containers", "json"]
        );
        assert_eq!(segments("/v1.24/_ping").unwrap(), ["_ping"]);
        assert_eq!(
            segments("/images/a%2Fb/json").unwrap(),
            ["images", "a/b", "json"]
        );
        let err = segments("/v1.43/info").unwrap_err();
        assert_eq!(err.status, hyper::StatusCode::BAD_REQUEST);
        assert!(err.message.contains("too new"), "{}", err.message);
    }
}
