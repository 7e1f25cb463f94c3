//! Replies: JSON, problem+json, and the headers every response carries.

use bytes::Bytes;
use clment_common::domain::RequestId;
use clment_common::problem::{ErrorCode, PROBLEM_JSON, Problem};
use http::StatusCode;
use http::header::{self, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::{Map, Value};
use warp::reply::Response;

/// The request-id header, read and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An error a handler or the dispatcher answers with. Turned into problem+json by [`ApiError::into_response`].
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    extensions: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with a request-specific detail.
    #[must_use]
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            extensions: Map::new(),
            headers: Vec::new(),
        }
    }

    /// A 500 whose cause is logged (with the request's span) and never shown.
    #[must_use]
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorCode::Internal,
            "An unexpected error occurred; quote the request id when reporting it.",
        )
    }

    /// Adds a problem extension member.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a response header.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The problem+json response.
    #[must_use]
    pub fn into_response(self, request_id: &RequestId) -> Response {
        let mut problem = Problem::new(self.code, self.detail, request_id);
        problem.extensions = self.extensions;
        let mut resp = bytes_response(problem.status(), PROBLEM_JSON, to_json(&problem));
        for (k, v) in self.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}

fn to_json<T: Serialize>(value: &T) -> Bytes {
    // Serialising our own plain structs cannot fail; an empty object is a safe fallback.
    serde_json::to_vec(value).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from)
}

/// A response with a body and content type.
#[must_use]
pub fn bytes_response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// An empty answer with `status` (204, 304).
#[must_use]
pub fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Bytes::new().into());
    *resp.status_mut() = status;
    resp
}

/// A JSON response.
#[must_use]
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    bytes_response(status, "application/json", to_json(value))
}

/// Adds the headers every response carries: the request id, HSTS, nosniff, no-store, and no
/// server banner.
pub fn finish(resp: &mut Response, request_id: &RequestId) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id.as_str()) {
        h.insert(REQUEST_ID, v);
    }
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.remove(header::SERVER);
    h.remove(HeaderName::from_static("x-powered-by"));
}
