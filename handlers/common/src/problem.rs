//! RFC 9457 problem details: one table of stable error codes, and the body every error answer carries.
//!
//! Clients branch on `code` (stable, snake_case); `title` is fixed per code; `detail` says what was wrong
//! with *this* request and never carries contract text, secrets or the cause of a 5xx.

use http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::RequestId;

/// Every error the API can answer with. The table in [`ErrorCode::spec`] gives each its status and title.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No route has this path.
    RouteNotFound,
    /// The route exists, but not for this method.
    MethodNotAllowed,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// The body's media type is not one the route accepts.
    UnsupportedMediaType,
    /// The body is not well-formed JSON, or does not have the expected shape.
    MalformedJson,
    /// A query parameter is missing or malformed.
    InvalidQuery,
    /// A path parameter is malformed.
    InvalidPath,
    /// An upload with no bytes.
    EmptyUpload,
    /// A header is malformed.
    InvalidHeader,
    /// The request is well-formed but asks for something impossible.
    InvalidRequest,
    /// No credentials, or credentials that did not verify.
    Unauthenticated,
    /// The organisation in the path is not the caller's.
    CrossTenant,
    /// The caller's role does not allow this.
    InsufficientRole,
    /// The org only allows SSO sign-in and this session used a password.
    SsoRequired,
    /// The org requires a second factor and this session has none.
    MfaRequired,
    /// The org does not allow this session's sign-in method.
    SignInMethodNotAllowed,
    /// The org's plan does not include this feature.
    PlanUpgradeRequired,
    /// Only an interactive (signed-in user) session may do this; API keys may not.
    InteractiveSessionRequired,
    /// The caller's organisation lives in another region.
    WrongRegion,
    /// The org or API key used up its request budget.
    RateLimited,
    /// The resource does not exist in this organisation.
    NotFound,
    /// The request conflicts with the resource's current state.
    Conflict,
    /// No Azure Function has this name.
    UnknownFunction,
    /// The host's invocation payload is malformed.
    InvalidInvocation,
    /// A trigger invocation failed; the host should retry it.
    InvocationFailed,
    /// A backend is not reachable right now.
    Unavailable,
    /// An unexpected failure; details are in the log under the request id.
    Internal,
}

/// A row of the error table.
#[derive(Clone, Copy, Debug)]
pub struct ErrorSpec {
    /// HTTP status.
    pub status: StatusCode,
    /// Short, fixed, human-readable summary.
    pub title: &'static str,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [Self; 27] = [
        Self::RouteNotFound,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::MalformedJson,
        Self::InvalidQuery,
        Self::InvalidPath,
        Self::EmptyUpload,
        Self::InvalidHeader,
        Self::InvalidRequest,
        Self::Unauthenticated,
        Self::CrossTenant,
        Self::InsufficientRole,
        Self::SsoRequired,
        Self::MfaRequired,
        Self::SignInMethodNotAllowed,
        Self::PlanUpgradeRequired,
        Self::InteractiveSessionRequired,
        Self::WrongRegion,
        Self::RateLimited,
        Self::NotFound,
        Self::Conflict,
        Self::UnknownFunction,
        Self::InvalidInvocation,
        Self::InvocationFailed,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The error table: status and title per code.
    #[must_use]
    pub fn spec(self) -> ErrorSpec {
        use StatusCode as S;
        let (status, title) = match self {
            Self::RouteNotFound => (S::NOT_FOUND, "No such route"),
            Self::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "Method not allowed"),
            Self::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "Request body too large"),
            Self::UnsupportedMediaType => (S::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
            Self::MalformedJson => (S::BAD_REQUEST, "Malformed JSON body"),
            Self::InvalidQuery => (S::BAD_REQUEST, "Invalid query parameter"),
            Self::InvalidPath => (S::BAD_REQUEST, "Invalid path parameter"),
            Self::EmptyUpload => (S::BAD_REQUEST, "Empty upload"),
            Self::InvalidHeader => (S::BAD_REQUEST, "Invalid header"),
            Self::InvalidRequest => (S::UNPROCESSABLE_ENTITY, "Invalid request"),
            Self::Unauthenticated => (S::UNAUTHORIZED, "Authentication required"),
            Self::CrossTenant => (S::FORBIDDEN, "Not your organisation"),
            Self::InsufficientRole => (S::FORBIDDEN, "Your role does not allow this"),
            Self::SsoRequired => (S::FORBIDDEN, "Your organisation requires single sign-on"),
            Self::MfaRequired => (
                S::FORBIDDEN,
                "Your organisation requires multi-factor authentication",
            ),
            Self::SignInMethodNotAllowed => (
                S::FORBIDDEN,
                "Your organisation does not allow this sign-in method",
            ),
            Self::PlanUpgradeRequired => (
                S::FORBIDDEN,
                "Your organisation's plan does not include this",
            ),
            Self::InteractiveSessionRequired => (S::FORBIDDEN, "Sign in as a user to do this"),
            Self::WrongRegion => (
                S::MISDIRECTED_REQUEST,
                "Your organisation is served from another region",
            ),
            Self::RateLimited => (S::TOO_MANY_REQUESTS, "Too many requests"),
            Self::NotFound => (S::NOT_FOUND, "Not found"),
            Self::Conflict => (S::CONFLICT, "Conflict"),
            Self::UnknownFunction => (S::NOT_FOUND, "No such function"),
            Self::InvalidInvocation => (S::BAD_REQUEST, "Malformed invocation payload"),
            Self::InvocationFailed => (S::INTERNAL_SERVER_ERROR, "Invocation failed"),
            Self::Unavailable => (S::SERVICE_UNAVAILABLE, "Service unavailable"),
            Self::Internal => (S::INTERNAL_SERVER_ERROR, "Internal error"),
        };
        ErrorSpec { status, title }
    }

    /// The stable snake_case code.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        // A plain match keeps this allocation-free; the test below checks it agrees with serde.
        match self {
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MalformedJson => "malformed_json",
            Self::InvalidQuery => "invalid_query",
            Self::InvalidPath => "invalid_path",
            Self::EmptyUpload => "empty_upload",
            Self::InvalidHeader => "invalid_header",
            Self::InvalidRequest => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::CrossTenant => "cross_tenant",
            Self::InsufficientRole => "insufficient_role",
            Self::SsoRequired => "sso_required",
            Self::MfaRequired => "mfa_required",
            Self::SignInMethodNotAllowed => "sign_in_method_not_allowed",
            Self::PlanUpgradeRequired => "plan_upgrade_required",
            Self::InteractiveSessionRequired => "interactive_session_required",
            Self::WrongRegion => "wrong_region",
            Self::RateLimited => "rate_limited",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::UnknownFunction => "unknown_function",
            Self::InvalidInvocation => "invalid_invocation",
            Self::InvocationFailed => "invocation_failed",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem body with Clment's `code` and `requestId` extensions.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `urn:clment:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Fixed per code.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What was wrong with this request.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// The request id, also echoed in `x-request-id`.
    pub request_id: String,
    /// Code-specific members (for example `homeRegion` with `wrong_region`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    /// A problem for `code` with a request-specific `detail`.
    #[must_use]
    pub fn new(code: ErrorCode, detail: impl Into<String>, request_id: &RequestId) -> Self {
        let spec = code.spec();
        Self {
            type_uri: format!("urn:clment:problem:{}", code.as_str()),
            title: spec.title,
            status: spec.status.as_u16(),
            detail: detail.into(),
            code,
            request_id: request_id.as_str().to_owned(),
            extensions: Map::new(),
        }
    }

    /// Adds an extension member.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.code.spec().status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_agree_with_serde_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                Value::String(code.as_str().into())
            );
            assert!(seen.insert(code.as_str()));
            let spec = code.spec();
            assert!(spec.status.is_client_error() || spec.status.is_server_error());
        }
    }

    #[test]
    fn body_shape() {
        let rid = RequestId::from_header_or_new(Some("r1"));
        let p =
            Problem::new(ErrorCode::WrongRegion, "served from eu", &rid).with("homeRegion", "eu");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "urn:clment:problem:wrong_region");
        assert_eq!(v["status"], 421);
        assert_eq!(v["code"], "wrong_region");
        assert_eq!(v["requestId"], "r1");
        assert_eq!(v["homeRegion"], "eu");
    }
}
