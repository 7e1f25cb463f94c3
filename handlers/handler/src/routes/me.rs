//! `GET /api/me`: the caller as the bundle sees it.

use clment_common::Principal;
use http::StatusCode;
use warp::reply::Response;

use crate::http::reply;

/// The verified principal: user, org, role, home region, sign-in methods.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verified caller", body = Principal),
        (status = 401, description = "No or invalid access token", body = clment_common::problem::Problem, content_type = "application/problem+json"),
        (status = 421, description = "The caller's organisation lives in another region", body = clment_common::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[must_use]
pub fn me(principal: &Principal) -> Response {
    reply::json(StatusCode::OK, principal)
}
