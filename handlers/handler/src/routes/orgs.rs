//! The caller's organisation: its record and its security policy (sign-in and AI review).

use clment_common::ports::{AiReviewPolicy, OrgRecord, Plan, SecurityUpdate, SignInMethod};
use clment_common::problem::ErrorCode;
use clment_common::signin;
use http::StatusCode;
use serde::Serialize;
use warp::reply::Response;

use crate::http::Ctx;
use crate::http::body::read_json;
use crate::http::reply::{self, ApiError};

/// The org's security policy as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityView {
    /// Allowed sign-in methods.
    pub allowed_sign_in_methods: Vec<SignInMethod>,
    /// Whether password sessions need a second factor.
    pub require_mfa: bool,
    /// What AI review may send of the org's contracts.
    pub ai_review: AiReviewPolicy,
    /// The org's plan (`requireMfa` needs `paid`).
    pub plan: Plan,
}

fn view(org: &OrgRecord) -> SecurityView {
    SecurityView {
        allowed_sign_in_methods: org.security.allowed_sign_in_methods.clone(),
        require_mfa: org.security.require_mfa,
        ai_review: org.security.ai_review,
        plan: org.plan,
    }
}

const PROBLEM: &str = "application/problem+json";

/// The caller's organisation: home region, plan, sign-in policy, creation time.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}", tag = "organisation",
    params(("orgId" = String, Path, description = "The caller's organisation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organisation", body = OrgRecord),
        (status = 401, description = "No or invalid credential", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 403, description = "Another organisation, or refused by the sign-in policy", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 421, description = "The organisation lives in another region", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
#[must_use]
pub fn get_org(ctx: &Ctx<'_>) -> Response {
    reply::json(StatusCode::OK, &ctx.granted.org)
}

/// The security policy: sign-in and AI review (admins and owners, interactive sessions only).
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/security", tag = "organisation",
    params(("orgId" = String, Path, description = "The caller's organisation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy", body = SecurityView),
        (status = 403, description = "Not an admin, an API key, another org, or refused by the policy", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
#[must_use]
pub fn get_security(ctx: &Ctx<'_>) -> Response {
    reply::json(StatusCode::OK, &view(&ctx.granted.org))
}

/// Replaces the security policy. Refused when it names no method, requires MFA on the free plan,
/// would lock out the very session making the change (sign in with the required method first), or
/// gives AI review a share outside 5 to 100 %. Audited with before and after values. Reviews that
/// start running after the change (queued ones included) follow the new AI review policy.
#[utoipa::path(
    put, path = "/api/orgs/{orgId}/security", tag = "organisation",
    params(("orgId" = String, Path, description = "The caller's organisation id")),
    request_body = SecurityUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new policy", body = SecurityView),
        (status = 400, description = "Malformed JSON", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 403, description = "Requires the paid plan, or not allowed", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 409, description = "The change would lock out this session", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 422, description = "No sign-in method allowed, or an AI review share outside 5 to 100", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn put_security(ctx: Ctx<'_>) -> Result<Response, ApiError> {
    let body = ctx.req.take_body();
    let update: SecurityUpdate =
        read_json(&ctx.req.headers, body, ctx.state.settings.max_json_bytes).await?;
    // Checked as it applies to the policy read for this request; stored by the store's atomic
    // update, which keeps the AI review policy stored then when the body leaves it out.
    let wanted = update
        .apply(&ctx.granted.org.security)
        .normalized()
        .map_err(|why| ApiError::new(ErrorCode::InvalidRequest, why))?;
    let update = SecurityUpdate {
        allowed_sign_in_methods: wanted.allowed_sign_in_methods.clone(),
        ..update
    };
    if wanted.require_mfa && ctx.granted.org.plan == Plan::Free {
        return Err(ApiError::new(
            ErrorCode::PlanUpgradeRequired,
            "Requiring MFA is available on the paid plan.",
        ));
    }
    if signin::check(&wanted, &ctx.granted.principal).is_err() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "This policy would refuse the session making the change; sign in with a method it allows first.",
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    let (before, after) = ctx
        .state
        .orgs
        .update_security(&ctx.granted.scope, update, now)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let details = serde_json::json!({ "before": before.security, "after": after.security });
    if let Err(e) = ctx
        .audit("org", ctx.granted.scope.org().as_str(), None, details)
        .await
    {
        // No silent gaps: undo the change when it cannot be audited.
        let undo = ctx
            .state
            .orgs
            .update_security(&ctx.granted.scope, before.security.into(), now)
            .await;
        tracing::error!(error = %e, undone = undo.is_ok(), "security change not audited; reverted");
        return Err(ApiError::internal(&e));
    }
    Ok(reply::json(StatusCode::OK, &view(&after)))
}
