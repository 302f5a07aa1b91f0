//! One repository on one registry endpoint, over the distribution API
//! (`/v2/<repo>/manifests/…`, `/v2/<repo>/blobs/…`). Every request goes
//! through [`Client::send`], which answers a 401 challenge once and keeps
//! the resulting `Authorization` for the requests after it, so request
//! bodies are always replayable: small byte buffers, or a blob's byte range
//! read afresh from its file by each attempt (never held in memory whole).

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, Url};

use crate::digest::Digest;

use super::auth::{self, Challenge};
use super::config::Endpoint;
use super::credentials::Credentials;
use super::transfer::BlobReader;
use super::upload_body::FileRange;
use super::RegistryError;

/// Manifests and indexes larger than this are refused (containerd's limit).
const MANIFEST_LIMIT: u64 = 4 << 20;

/// Every manifest kind kiln reads, so a registry never has to down-convert.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// A repository on an endpoint, with the credentials for that endpoint.
pub struct Client {
    http: Http,
    endpoint: Endpoint,
    repo: String,
    creds: Option<Credentials>,
    authorization: Mutex<Option<String>>,
}

/// What a cross-repository mount did.
pub enum Mount {
    Mounted,
    /// The registry could not mount and opened an upload instead.
    Upload(Url),
}

impl Client {
    pub fn new(
        endpoint: Endpoint,
        repo: &str,
        creds: Option<Credentials>,
    ) -> Result<Client, RegistryError> {
        let http = http_client(&endpoint)?;
        Ok(Client {
            http,
            endpoint,
            repo: repo.to_string(),
            creds,
            authorization: Mutex::new(None),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.endpoint.base_url, self.repo)
    }

    /// The manifest or index `reference` (a tag or a digest) names, with its
    /// media type; `None` when the registry does not have it.
    pub fn get_manifest(
        &self,
        reference: &str,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.send(Method::GET, &url, |r| {
            r.header(header::ACCEPT, MANIFEST_ACCEPT)
        })?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check(resp, "GET", &url)?;
        let media_type = content_type(resp.headers());
        let bytes = read_limited(resp, &url, || format!("manifest {reference}"))?;
        Ok(Some((bytes, media_type)))
    }

    /// The blob's body, to be read (and verified) by the caller.
    pub fn get_blob(&self, digest: &Digest) -> Result<Response, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::GET, &url, |r| r)?;
        check(resp, "GET", &url)
    }

    /// The blob's body of `size` bytes as a reader that survives a cut or
    /// stalled connection: it asks again from where it stopped (see
    /// [`BlobReader`]). The caller still verifies the digest.
    pub fn blob_reader(&self, digest: &Digest, size: u64) -> Result<BlobReader<'_>, RegistryError> {
        BlobReader::open(self, digest, size)
    }

    /// `GET` of a blob from byte `from` on (a `Range` request unless 0).
    pub(crate) fn get_blob_from(
        &self,
        digest: &Digest,
        from: u64,
    ) -> Result<Response, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::GET, &url, |r| match from {
            0 => r,
            n => r.header(header::RANGE, format!("bytes={n}-")),
        })?;
        check(resp, "GET", &url)
    }

    pub fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::HEAD, &url, |r| r)?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check(resp, "HEAD", &url).map(|_| true)
    }

    /// Asks the registry to link `digest` from the repository `from`.
    pub fn mount_blob(&self, digest: &Digest, from: &str) -> Result<Mount, RegistryError> {
        let url = self.url("blobs/uploads/");
        let query = [("mount", digest.to_string()), ("from", from.to_string())];
        let resp = self.send(Method::POST, &url, |r| r.query(&query))?;
        if resp.status() == StatusCode::CREATED {
            return Ok(Mount::Mounted);
        }
        let resp = check(resp, "POST", &url)?;
        Ok(Mount::Upload(self.location(&resp, &url)?))
    }

    /// Opens an upload session; returns where to send its bytes.
    pub fn start_upload(&self) -> Result<Url, RegistryError> {
        let url = self.url("blobs/uploads/");
        let resp = check(self.send(Method::POST, &url, |r| r)?, "POST", &url)?;
        self.location(&resp, &url)
    }

    /// Sends `chunk`, the blob's bytes from offset `start`; returns the
    /// next location.
    pub fn upload_chunk(
        &self,
        location: &Url,
        start: u64,
        chunk: &FileRange,
    ) -> Result<Url, RegistryError> {
        let end = start + chunk.len() - 1;
        let resp = self.send(Method::PATCH, location.as_str(), |r| {
            r.timeout(self.upload_timeout(chunk.len()))
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_RANGE, format!("{start}-{end}"))
                .body(chunk.body())
        })?;
        let resp = check(resp, "PATCH", location.as_str())?;
        self.location(&resp, location.as_str())
    }

    /// Closes an upload with its last bytes (all of them, for a monolithic
    /// upload; none after chunks).
    pub fn finish_upload(
        &self,
        location: &Url,
        digest: &Digest,
        last: Option<&FileRange>,
    ) -> Result<(), RegistryError> {
        let mut url = location.clone();
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let len = last.map_or(0, FileRange::len);
        let resp = self.send(Method::PUT, url.as_str(), |r| {
            let r = r
                .timeout(self.upload_timeout(len))
                .header(header::CONTENT_TYPE, "application/octet-stream");
            match last {
                Some(range) => r.body(range.body()),
                None => r.body(Vec::new()),
            }
        })?;
        check(resp, "PUT", url.as_str()).map(|_| ())
    }

    /// Uploads a manifest under `reference` (a tag or its digest); returns
    /// the digest the registry reports, if it does.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<Digest>, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.send(Method::PUT, &url, |r| {
            r.header(header::CONTENT_TYPE, media_type)
                .body(bytes.to_vec())
        })?;
        let resp = check(resp, "PUT", &url)?;
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok()))
    }

    /// One page of the endpoint's repository list (`GET /v2/_catalog`),
    /// from `start` (the relative link a previous page gave) or the first;
    /// with the link to the next page, when the registry gives one.
    pub fn catalog_page(
        &self,
        start: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let url = match start {
            Some(rel) => format!("{}{rel}", self.endpoint.base_url),
            None => format!("{}/v2/_catalog?n=100", self.endpoint.base_url),
        };
        let resp = check(self.send(Method::GET, &url, |r| r)?, "GET", &url)?;
        let next = next_link(resp.headers());
        let bytes = read_limited(resp, &url, || format!("catalog page {url}"))?;
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let page: Page = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Protocol(format!("{url}: not a catalog: {e}")))?;
        Ok((page.repositories, next))
    }

    /// Checks that the endpoint accepts this client's credentials: `GET
    /// /v2/`, answering a challenge as any request would.
    pub fn ping(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.endpoint.base_url);
        let resp = self.send(Method::GET, &url, |r| r)?;
        check(resp, "GET", &url).map(|_| ())
    }

    /// Sends a request, answering one authentication challenge.
    pub(crate) fn send(
        &self,
        method: Method,
        url: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let attempt = |authorization: Option<&str>| {
            let mut req = build(self.http.request(method.clone(), url));
            if let Some(a) = authorization {
                req = req.header(header::AUTHORIZATION, a);
            }
            req.send()
                .map_err(|source| self.transport_error(method.as_str(), url, source))
        };
        let current = self.current_authorization();
        let resp = attempt(current.as_deref())?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let fresh = self.answer(&resp, current.as_deref())?;
        let resp = attempt(Some(&fresh))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized(resp));
        }
        *self.lock_authorization() = Some(fresh);
        Ok(resp)
    }

    /// A request's wait for its response includes sending its body: a
    /// large chunk gets time for it at a slow link's pace (64 KiB/s).
    fn upload_timeout(&self, len: u64) -> Duration {
        let read = self.endpoint.timeouts.read;
        read.saturating_add(Duration::from_secs(len / (64 << 10)))
    }

    /// A request that failed before a response: a stall is told as one,
    /// naming the registry and what it did not do in time.
    pub(crate) fn transport_error(
        &self,
        method: &str,
        url: &str,
        source: reqwest::Error,
    ) -> RegistryError {
        if !source.is_timeout() {
            return RegistryError::Http {
                method: method.to_string(),
                url: url.to_string(),
                source,
            };
        }
        let timeouts = self.endpoint.timeouts;
        let (what, after) = if source.is_connect() {
            ("connect".to_string(), timeouts.connect)
        } else {
            (format!("respond to {method} {url}"), timeouts.read)
        };
        RegistryError::Timeout {
            host: self.endpoint.host.clone(),
            what,
            after,
        }
    }

    fn current_authorization(&self) -> Option<String> {
        self.lock_authorization().clone()
    }

    fn lock_authorization(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // A worker that panicked cannot leave a half-written String behind.
        self.authorization.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `Authorization` value that answers a 401's challenge.
    fn answer(&self, resp: &Response, tried: Option<&str>) -> Result<String, RegistryError> {
        let challenge = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(auth::parse_challenge);
        match challenge {
            Some(Challenge::Basic) => {
                let header = self
                    .creds
                    .as_ref()
                    .map(auth::basic_header)
                    .filter(|h| Some(h.as_str()) != tried);
                header.ok_or_else(|| self.needs_login())
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => auth::fetch_token(
                &self.http,
                &realm,
                service.as_deref(),
                scope.as_deref(),
                self.creds.as_ref(),
            ),
            None => Err(self.needs_login()),
        }
    }

    fn needs_login(&self) -> RegistryError {
        let hint = if self.creds.is_some() {
            " (the stored credentials were refused)"
        } else {
            " (authentication required: run `kiln login`)"
        };
        RegistryError::Unauthorized {
            host: self.endpoint.host.clone(),
            detail: hint.to_string(),
        }
    }

    fn unauthorized(&self, resp: Response) -> RegistryError {
        let detail = error_detail(resp);
        let hint = if self.creds.is_some() {
            " (wrong username or password?)"
        } else {
            " (run `kiln login`)"
        };
        RegistryError::Unauthorized {
            host: self.endpoint.host.clone(),
            detail: format!("{detail}{hint}"),
        }
    }

    /// The `Location` of an upload, which may be relative to the request.
    fn location(&self, resp: &Response, request_url: &str) -> Result<Url, RegistryError> {
        let bad = |why: &str| RegistryError::Protocol(format!("{request_url}: {why}"));
        let value = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| bad("the upload response has no Location"))?;
        let base = Url::parse(request_url).map_err(|_| bad("invalid request URL"))?;
        base.join(value).map_err(|_| bad("invalid upload Location"))
    }
}

fn http_client(endpoint: &Endpoint) -> Result<Http, RegistryError> {
    let timeouts = endpoint.timeouts;
    Http::builder()
        // The blocking client's timeout bounds each wait, not a transfer:
        // the wait for response headers, and each read of a body. A layer
        // takes as long as it takes while bytes keep coming; a silent
        // registry fails after `read`. (reqwest's async `read_timeout`
        // would panic here: blocking bodies are polled outside tokio.)
        .timeout(timeouts.read)
        .connect_timeout(timeouts.connect)
        .danger_accept_invalid_certs(endpoint.insecure)
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| RegistryError::Http {
            method: "connect".into(),
            url: endpoint.base_url.clone(),
            source,
        })
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
        .unwrap_or_default()
}

/// A JSON document's body, refused past [`MANIFEST_LIMIT`] (`what` names
/// it then) without reading more than one byte beyond.
fn read_limited(
    resp: Response,
    url: &str,
    what: impl FnOnce() -> String,
) -> Result<Vec<u8>, RegistryError> {
    let mut bytes = Vec::new();
    resp.take(MANIFEST_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Protocol(format!("reading {url}: {e}")))?;
    if bytes.len() as u64 > MANIFEST_LIMIT {
        return Err(RegistryError::TooLarge {
            what: what(),
            expected: MANIFEST_LIMIT,
        });
    }
    Ok(bytes)
}

/// The path of a `Link: </v2/_catalog?last=…&n=…>; rel="next"` header;
/// anything else (another host, another path) is no next page.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::LINK)?.to_str().ok()?;
    let (target, params) = value.split_once(';')?;
    let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
    let next = params
        .split(';')
        .any(|p| p.trim().trim_start_matches("rel=").trim_matches('"') == "next");
    (next && target.starts_with("/v2/_catalog?")).then(|| target.to_string())
}

/// Passes a success through; turns anything else into an error carrying the
/// registry's message (`{"errors":[{"code":…,"message":…}]}`).
fn check(resp: Response, method: &str, url: &str) -> Result<Response, RegistryError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    Err(RegistryError::Status {
        method: method.to_string(),
        url: url.to_string(),
        status,
        detail: error_detail(resp),
    })
}

/// `: unauthorized: authentication required`, as Docker prints it.
fn error_detail(resp: Response) -> String {
    let mut body = Vec::new();
    let _ = resp.take(64 << 10).read_to_end(&mut body);
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let errors = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .cloned()
        .unwrap_or_default();
    let messages: Vec<String> = errors
        .iter()
        .map(|e| {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or_default();
            let message = e
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default();
            let code = code.to_lowercase().replace('_', " ");
            match (code.is_empty(), message.is_empty()) {
                (false, false) => format!("{code}: {message}"),
                (false, true) => code,
                _ => message.to_string(),
            }
        })
        .collect();
    if messages.is_empty() {
        String::new()
    } else {
        format!(": {}", messages.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn the_next_catalog_page_comes_from_a_relative_link_only() {
        let link = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::LINK, v.parse().unwrap());
            next_link(&h)
        };
        let next = link(r#"</v2/_catalog?last=b&n=100>; rel="next""#);
        assert_eq!(next.as_deref(), Some("/v2/_catalog?last=b&n=100"));
        assert_eq!(
            link(r#"<https://evil.example/v2/_catalog?n=1>; rel="next""#),
            None
        );
        assert_eq!(link(r#"</v2/other>; rel="next""#), None);
        assert_eq!(link(r#"</v2/_catalog?last=b>; rel="prev""#), None);
    }
    use crate::registry::config::RegistryConfig;

    /// A registry that wants a bearer token from its own `/token` realm,
    /// which grants `good-token` to user `u` with password `p` only.
    /// Returns its address and the request lines it saw.
    fn token_registry() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, realm) = (seen.clone(), format!("http://{addr}/token"));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push(line.trim_end().to_string());
                }
                let first = head.first().cloned().unwrap_or_default();
                let auth = head
                    .iter()
                    .find_map(|h| h.strip_prefix("authorization: "))
                    .unwrap_or("")
                    .to_string();
                log.lock().unwrap().push(format!("{first} [{auth}]"));
                let (status, extra, body) = if first.starts_with("GET /token") {
                    if auth == auth::basic_header(&creds("p")) {
                        (
                            "200 OK",
                            String::new(),
                            r#"{"token":"good-token"}"#.to_string(),
                        )
                    } else {
                        ("401 Unauthorized", String::new(), String::new())
                    }
                } else if auth == "Bearer good-token" {
                    let ct = "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n";
                    ("200 OK", ct.to_string(), "{}".to_string())
                } else {
                    let challenge = format!(
                        "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"svc\",scope=\"repository:app:pull\"\r\n"
                    );
                    ("401 Unauthorized", challenge, String::new())
                };
                let mut conn = conn;
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (addr, seen)
    }

    fn creds(password: &str) -> Credentials {
        Credentials {
            username: "u".into(),
            password: password.into(),
        }
    }

    #[test]
    fn answers_a_bearer_challenge_with_a_token_for_its_scope() {
        let (addr, seen) = token_registry();
        let endpoint = RegistryConfig::default().endpoint(&addr);
        let client = Client::new(endpoint, "app", Some(creds("p"))).unwrap();
        let (body, media_type) = client.get_manifest("v1").unwrap().unwrap();
        assert_eq!(body, b"{}");
        assert_eq!(media_type, "application/vnd.oci.image.manifest.v1+json");
        // The token is kept: the second request needs no new challenge.
        client.get_manifest("v1").unwrap().unwrap();
        let seen = seen.lock().unwrap().clone();
        let basic = auth::basic_header(&creds("p"));
        assert_eq!(
            seen,
            [
                "GET /v2/app/manifests/v1 HTTP/1.1 []".to_string(),
                format!("GET /token?service=svc&scope=repository%3Aapp%3Apull HTTP/1.1 [{basic}]"),
                "GET /v2/app/manifests/v1 HTTP/1.1 [Bearer good-token]".to_string(),
                "GET /v2/app/manifests/v1 HTTP/1.1 [Bearer good-token]".to_string(),
            ]
        );
    }

    #[test]
    fn a_refused_token_request_is_an_error_naming_the_realm() {
        let (addr, _) = token_registry();
        let endpoint = RegistryConfig::default().endpoint(&addr);
        let client = Client::new(endpoint, "app", Some(creds("wrong"))).unwrap();
        let err = client.get_manifest("v1").err().unwrap();
        assert!(matches!(err, RegistryError::TokenRefused { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains(&format!("http://{addr}/token refused")),
            "{err}"
        );
    }
}
