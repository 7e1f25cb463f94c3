//! Per-tenant rate limiting at the HTTP edge: 429 with `Retry-After`, and the IETF
//! `RateLimit-Policy`/`RateLimit` headers on every limited route's answer.

use clment_common::Principal;
use clment_common::auth::principal::Credential;
use clment_common::problem::ErrorCode;
use clment_common::ratelimit::{Class, Decision};
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use warp::reply::Response;

use super::reply::ApiError;
use super::routes::{Cost, RouteSpec};
use crate::state::AppState;

const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Spends one request from the principal's org (and key) budget.
///
/// # Errors
/// 429 `rate_limited` with `Retry-After` and the rate-limit headers.
pub fn check(
    state: &AppState,
    spec: &RouteSpec,
    principal: &Principal,
) -> Result<Decision, ApiError> {
    let key = match principal.credential() {
        Credential::ApiKey { key_id, .. } => Some(key_id.as_str()),
        Credential::AccessToken => None,
    };
    let class = match spec.cost {
        Cost::Standard => Class::Standard,
        Cost::Expensive => Class::Expensive,
    };
    let d = state.limiter.check(principal.org_id().as_str(), key, class);
    refuse_unless_allowed(d)
}

/// Spends one request from an operator's own budget (keyed apart from every org: org ids cannot
/// contain `:`).
///
/// # Errors
/// 429 `rate_limited` with `Retry-After` and the rate-limit headers.
pub fn check_operator(
    state: &AppState,
    spec: &RouteSpec,
    operator: &clment_common::auth::jwt::Operator,
) -> Result<Decision, ApiError> {
    let class = match spec.cost {
        Cost::Standard => Class::Standard,
        Cost::Expensive => Class::Expensive,
    };
    let d = state
        .limiter
        .check(&format!("operator:{}", operator.subject), None, class);
    refuse_unless_allowed(d)
}

fn refuse_unless_allowed(d: Decision) -> Result<Decision, ApiError> {
    if d.allowed {
        return Ok(d);
    }
    tracing::info!(
        policy = d.policy.name(),
        retry_after = d.retry_after_secs(),
        "rate limited"
    );
    let mut e = ApiError::new(
        ErrorCode::RateLimited,
        format!(
            "The {} request budget is used up; retry after {} s.",
            d.policy.name(),
            d.retry_after_secs()
        ),
    )
    .with("policy", d.policy.name())
    .with("retryAfterSeconds", d.retry_after_secs());
    for (name, value) in headers(&d) {
        e = e.header(name, value);
    }
    Err(e)
}

fn headers(d: &Decision) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    if let Ok(v) = HeaderValue::from_str(&d.policy_header()) {
        out.push((POLICY, v));
    }
    if let Ok(v) = HeaderValue::from_str(&d.ratelimit_header()) {
        out.push((RATELIMIT, v));
    }
    if !d.allowed {
        out.push((RETRY_AFTER, HeaderValue::from(d.retry_after_secs())));
    }
    out
}

/// Adds the rate-limit headers to a successful answer.
pub fn annotate(resp: &mut Response, d: &Decision) {
    for (name, value) in headers(d) {
        resp.headers_mut().insert(name, value);
    }
}
