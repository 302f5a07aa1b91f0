//! What a handler answers: JSON with Docker's status codes, Docker's
//! `{"message": …}` errors, a streamed body, or a hijacked connection.

use std::io;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::body::{self, Body};
use super::hijack::Hijack;

pub enum Reply {
    Http(Response<Body>),
    /// The connection becomes a raw stream for this work (attach, exec).
    Hijack(Hijack),
}

pub type Result<T = Reply> = std::result::Result<T, ApiError>;

/// An error as Docker's API gives it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn into_response(self) -> Response<Body> {
        #[derive(Serialize)]
        struct Message<'a> {
            message: &'a str,
        }
        json(
            self.status,
            &Message {
                message: &self.message,
            },
        )
    }
}

impl From<kiln_engine::Error> for ApiError {
    fn from(err: kiln_engine::Error) -> ApiError {
        let status = engine_status(&err);
        ApiError::new(
            status,
            docker_wording(&crate::error_text::chain(&err.into())),
        )
    }
}

impl From<io::Error> for ApiError {
    fn from(err: io::Error) -> ApiError {
        ApiError::internal(err.to_string())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> ApiError {
        ApiError::internal(crate::error_text::chain(&err))
    }
}

/// Docker's status for each kind of failure: what names a missing thing is
/// 404, what the current state forbids is 409, what the caller got wrong
/// is 400, and the rest (the machine failed) 500.
fn engine_status(err: &kiln_engine::Error) -> StatusCode {
    use kiln_cache::StoreError;
    use kiln_engine::Error as E;
    use kiln_runtime::container::state::Error as S;
    use kiln_runtime::network::user::Error as N;
    use kiln_runtime::volume::Error as V;
    match err {
        E::State(S::NotFound(_))
        | E::Store(StoreError::ImageNotFound(_))
        | E::Network(N::NotFound(_))
        | E::Volume(V::NotFound(_))
        | E::Copy(kiln_runtime::container::copy::Error::NotFound(_))
        | E::OpenStore(StoreError::ImageNotFound(_)) => StatusCode::NOT_FOUND,
        E::State(S::NameInUse { .. })
        | E::Network(N::Exists(_) | N::InUse(..))
        | E::NotRunning(_)
        | E::Paused(_)
        | E::AttachStopped => StatusCode::CONFLICT,
        E::State(S::BadName(_) | S::Ambiguous(_))
        | E::NoImage
        | E::NoCommand
        | E::BadSize { .. }
        | E::SwapWithoutMemory
        | E::BadFlag { .. }
        | E::BadField { .. }
        | E::ConflictsWithNetwork(_)
        | E::ConflictsWithNamespace { .. }
        | E::AliasWithoutNetwork
        | E::BadCpus(_)
        | E::SecurityOpt(_)
        | E::BindSpec(_)
        | E::BindNotAbsolute(_)
        | E::VolumeNotAbsolute(_)
        | E::VolumeMode { .. }
        | E::VolumeSpec(_)
        | E::PortsOnHost
        | E::RestartWithRm
        | E::ListFilter(_)
        | E::Restart(_)
        | E::Port(_) => StatusCode::BAD_REQUEST,
        _ => by_wording(&err.to_string()),
    }
}

/// The engine's image errors carry their kind in their wording (Docker's).
fn by_wording(text: &str) -> StatusCode {
    if text.starts_with("no such") || text.contains("not found") {
        StatusCode::NOT_FOUND
    } else if text.starts_with("conflict:") {
        StatusCode::CONFLICT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// Docker capitalises "No such …"; clients print the message as given.
fn docker_wording(text: &str) -> String {
    match text.strip_prefix("no such ") {
        Some(rest) => format!("No such {rest}"),
        None => text.to_string(),
    }
}

pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    // Serializing plain data cannot fail; an empty body would if it did.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub fn ok_json_status(code: StatusCode, value: &impl Serialize) -> Result {
    Ok(Reply::Http(json(code, value)))
}

pub fn ok_json(value: &impl Serialize) -> Result {
    Ok(Reply::Http(json(StatusCode::OK, value)))
}

pub fn status(status: StatusCode) -> Result {
    let mut response = Response::new(body::empty());
    *response.status_mut() = status;
    Ok(Reply::Http(response))
}

pub fn no_content() -> Result {
    status(StatusCode::NO_CONTENT)
}

/// A response whose body is written as the work goes.
pub fn streamed(content_type: &'static str, body: Body) -> Result {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(Reply::Http(response))
}

/// Lines of JSON already made, as Docker's `load` sends them.
pub fn json_lines(lines: String) -> Response<Body> {
    let mut response = Response::new(body::full(lines));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
