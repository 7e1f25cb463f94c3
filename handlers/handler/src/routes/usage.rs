//! Usage aggregates: an org's own (`GET /api/orgs/{orgId}/usage`) and, for operators, every org of
//! this region (`GET /api/operator/usage`). Counts, bytes and tokens only: never titles, file names,
//! text or ids of contracts, so the answer may leave the region (a multi-region admin sums planes).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clment_common::TenantScope;
use clment_common::auth::jwt::Operator;
use clment_common::domain::{OrgId, Region};
use clment_common::ports::{ContractUsage, OrgRecord, Plan, PortError, ReviewUsage};
use clment_common::problem::ErrorCode;
use futures_util::{StreamExt as _, TryStreamExt as _};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use warp::reply::Response;

use crate::http::Ctx;
use crate::http::reply::{self, ApiError};
use crate::state::AppState;

const PROBLEM: &str = "application/problem+json";

/// Most orgs per operator page.
pub const MAX_ORGS: usize = 500;
/// Orgs per operator page by default.
pub const DEFAULT_ORGS: usize = 100;
/// Orgs aggregated at once.
const CONCURRENCY: usize = 8;

/// One org's usage in this region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgUsage {
    /// The org.
    #[schema(value_type = String)]
    pub org_id: OrgId,
    /// This region (where the counted data lives).
    pub region: Region,
    /// The org's plan.
    pub plan: Plan,
    /// Contracts stored (not those being deleted).
    pub contracts: ContractUsage,
    /// Reviews and model tokens.
    pub reviews: ReviewUsage,
    /// When the figures were computed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub computed_at: OffsetDateTime,
}

/// A page of the region's orgs, each with its usage.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegionUsage {
    /// This region.
    pub region: Region,
    /// Orgs in id order.
    pub orgs: Vec<OrgUsage>,
    /// Pass as `continuation` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
}

async fn usage_of(
    state: &AppState,
    scope: &TenantScope,
    org: &OrgRecord,
) -> Result<OrgUsage, PortError> {
    let (contracts, reviews) =
        tokio::try_join!(state.contracts.usage(scope), state.reviews.usage(scope))?;
    Ok(OrgUsage {
        org_id: org.org_id.clone(),
        region: scope.region(),
        plan: org.plan,
        contracts,
        reviews,
        computed_at: OffsetDateTime::now_utc(),
    })
}

/// The caller's org: contracts (count, bytes, by indexing status), reviews (by status) and the model
/// tokens they used. Aggregates only.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/usage", tag = "organisation",
    params(("orgId" = String, Path, description = "The caller's organisation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The org's usage in this region", body = OrgUsage),
        (status = 403, description = "Not an admin (or a key without `usage:read`), another org, or refused by the sign-in policy", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 421, description = "The organisation lives in another region", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// 503 when a store cannot be read.
pub async fn org(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    if !ctx.req.query.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "This route takes no query parameters.",
        ));
    }
    let usage = usage_of(ctx.state, &ctx.granted.scope, &ctx.granted.org)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(reply::json(StatusCode::OK, &usage))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgsQuery {
    limit: Option<usize>,
    continuation: Option<String>,
}

fn bad_query(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, detail)
}

/// Every org of this region with its usage, in org id order (operators only: an operator access
/// token, not a tenant token or an API key). Aggregates only, no contract data.
#[utoipa::path(
    get, path = "/api/operator/usage", tag = "operator",
    params(
        ("limit" = Option<usize>, Query, description = "Orgs per page, 1-500 (default 100)"),
        ("continuation" = Option<String>, Query, description = "From the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of orgs with their usage", body = RegionUsage),
        (status = 400, description = "Bad limit or continuation", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 401, description = "No operator access token", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// 400 for a bad query; 503 when a store cannot be read.
pub async fn region(
    state: &AppState,
    operator: &Operator,
    query: &str,
) -> Result<Response, ApiError> {
    let q: OrgsQuery = serde_urlencoded::from_str(query)
        .map_err(|_| bad_query("Query: `limit` (1-500) and `continuation` only."))?;
    let limit = q.limit.unwrap_or(DEFAULT_ORGS);
    if !(1..=MAX_ORGS).contains(&limit) {
        return Err(bad_query("limit: 1 to 500."));
    }
    let after = q
        .continuation
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| OrgId::parse(&s).ok())
                .ok_or_else(|| bad_query("continuation: not one this API issued."))
        })
        .transpose()?;
    let here = state.settings.region;
    let mut orgs = state
        .orgs
        .list_orgs(after.as_ref(), limit + 1)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let more = orgs.len() > limit;
    orgs.truncate(limit);
    let continuation = more
        .then(|| {
            orgs.last()
                .map(|o| URL_SAFE_NO_PAD.encode(o.org_id.as_str()))
        })
        .flatten();
    let usages: Vec<OrgUsage> = futures_util::stream::iter(orgs)
        .map(|org| async move {
            // The org comes from this region's own list, never from the request.
            let scope = TenantScope::for_verified_operator(operator, org.org_id.clone(), here);
            usage_of(state, &scope, &org).await
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(
        target: "security", event = "operator.usage", operator = %operator.subject,
        orgs = usages.len(), "operator read the region's usage"
    );
    Ok(reply::json(
        StatusCode::OK,
        &RegionUsage {
            region: here,
            orgs: usages,
            continuation,
        },
    ))
}
