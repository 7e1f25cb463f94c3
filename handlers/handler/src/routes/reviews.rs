//! Reviews of a contract: ask for one (`202 Accepted`: it runs in the background), list them, read
//! one with its result, delete one. A review belongs to its contract: every route first checks that
//! the contract is the caller's org's and live, so another org's ids answer 404 like absent ones.

use clment_common::domain::{ContractId, ReviewId};
use clment_common::ports::{Actor, ContractStatus, Job, Outcome, PortError, ReviewCreated};
use clment_common::problem::ErrorCode;
use clment_common::review::{ReviewFailure, ReviewRecord, ReviewResult, ReviewStatus};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use warp::reply::Response;

use super::contracts::{contract_id, idempotency_key, live};
use crate::http::body::{is_json, parse_json, read_limited};
use crate::http::dispatch::Ctx;
use crate::http::reply::{self, ApiError};
use crate::reviewing::categories_for;

const PROBLEM: &str = "application/problem+json";

/// What to review.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// Category keys or CUAD names (`governing-law` or `Governing Law`); all 41 when absent.
    pub categories: Option<Vec<String>>,
}

/// A review as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    /// Review id.
    pub id: String,
    /// The contract.
    pub contract_id: String,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: ReviewStatus,
    /// Category keys asked for.
    pub categories: Vec<String>,
    /// When it was asked for (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// When it ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<ReviewFailure>,
    /// What it found (when completed; omitted in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ReviewResult>,
}

/// A page of reviews, newest first.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewPage {
    /// Reviews (without their results: read one for that).
    pub items: Vec<ReviewView>,
    /// Pass as `continuation` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn view(r: &ReviewRecord, with_result: bool) -> ReviewView {
    ReviewView {
        id: r.id.to_string(),
        contract_id: r.contract.to_string(),
        status: r.status,
        categories: r.categories.clone(),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
        completed_at: r.completed_at.map(rfc3339),
        failure: r.failure.clone(),
        result: if with_result { r.result.clone() } else { None },
    }
}

fn location(r: &ReviewRecord) -> String {
    format!(
        "/api/orgs/{}/contracts/{}/reviews/{}",
        r.org, r.contract, r.id
    )
}

fn review_id(ctx: &Ctx<'_>) -> Result<ReviewId, ApiError> {
    ReviewId::parse(ctx.req.params.get("reviewId").unwrap_or_default())
        .map_err(|e| ApiError::new(ErrorCode::InvalidPath, format!("reviewId: {e}.")))
}

fn no_review() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "No review with this id for this contract in your organisation.",
    )
}

/// Asks for a review.
#[utoipa::path(
    post, path = "/api/orgs/{orgId}/contracts/{contractId}/reviews", tag = "reviews",
    params(("orgId" = String, Path, description = "The caller's organisation id"), ("contractId" = String, Path, description = "The contract id")),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first review instead of asking again")),
    request_body(content = Option<ReviewRequest>, description = "Optional: the categories to review (default: all 41). An empty body reviews everything.", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued; `Location` names the review. A contract that is not indexed yet is reviewed once it is.", body = ReviewView),
        (status = 400, description = "Unknown or no categories", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 404, description = "No such contract in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 409, description = "The contract's text could not be extracted, so it cannot be reviewed; or the Idempotency-Key was used for a different request", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 415, description = "A body that is not JSON", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 503, description = "The review could not be queued: it is listed as `failed` (`not_queued`, named by `reviewId`) and its Idempotency-Key is free again; ask again after `Retry-After`", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn create(ctx: Ctx<'_>) -> Result<Response, ApiError> {
    let contract = contract_id(&ctx)?;
    let headers = ctx.req.headers.clone();
    let idempotency = idempotency_key(&headers)?;
    let bytes = read_limited(
        &headers,
        ctx.req.take_body(),
        ctx.state.settings.max_json_bytes,
    )
    .await?;
    let request: ReviewRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        ReviewRequest { categories: None }
    } else if !is_json(&headers) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "This route takes an empty body or a JSON body: send Content-Type: application/json.",
        )
        .with("accepted", vec!["application/json"]));
    } else {
        parse_json(&bytes)?
    };
    if request.categories.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "categories: name at least one category, or leave it out to review all 41.",
        ));
    }
    let categories = categories_for(request.categories.as_deref()).map_err(|bad| {
        let shown: String = bad.chars().filter(|c| !c.is_control()).take(80).collect();
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("categories: {shown:?} is not a category; `categories` lists the keys."),
        )
        .with(
            "categories",
            clment_common::review::CATEGORIES
                .iter()
                .map(|c| c.key)
                .collect::<Vec<_>>(),
        )
    })?;
    let c = live(&ctx, contract).await?;
    if c.status == ContractStatus::Failed {
        let code = c.failure.map_or_else(|| "unknown".to_owned(), |f| f.code);
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "This contract's text could not be extracted ({code}), so it cannot be reviewed; upload a readable copy."
            ),
        ));
    }
    let scope = &ctx.granted.scope;
    let now = OffsetDateTime::now_utc();
    let record = ReviewRecord {
        id: ReviewId::new(),
        org: scope.org().clone(),
        contract,
        status: ReviewStatus::Queued,
        categories,
        requested_by: Actor::of(&ctx.granted.principal),
        created_at: now,
        updated_at: now,
        completed_at: None,
        failure: None,
        result: None,
        idempotency_key: idempotency,
    };
    let created = ctx
        .state
        .reviews
        .create(scope, &record)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if let ReviewCreated::Existing(first) = created {
        // A retry: the first review as it is now, nothing asked again.
        if first.contract != record.contract || first.categories != record.categories {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "This Idempotency-Key was already used for a different review request.",
            ));
        }
        return Ok(accepted(&first));
    }
    let details = serde_json::json!({ "categories": record.categories.len() });
    if let Err(e) = ctx
        .audit(
            "review",
            &record.id.to_string(),
            Some(&contract.to_string()),
            details,
        )
        .await
    {
        // Not in the trail, so it did not happen: the review goes (freeing its key), nothing queued.
        let _ = ctx.state.reviews.delete(scope, contract, record.id).await;
        return Err(ApiError::internal(&e));
    }
    let job = Job::RunReview {
        org: record.org.clone(),
        contract,
        review: record.id,
    };
    if let Err(e) = ctx.state.jobs.enqueue(job).await {
        return not_queued(&ctx, record, &e).await;
    }
    ctx.state.work_ready.notify_one();
    Ok(accepted(&record))
}

/// The failure code of a review that was asked for but could not be queued.
const NOT_QUEUED: &str = "not_queued";

/// A review that was asked for (its event is in the trail) but could not be queued: it ends
/// `failed` with `not_queued`, which the trail records too, and gives up its idempotency key, so
/// that asking again, with the same key or none, asks again. The caller gets 503 with
/// `Retry-After`. Should the queue have taken the job after all (an answer lost after the
/// write), the job has already changed the review: it runs, and the caller gets 202.
async fn not_queued(
    ctx: &Ctx<'_>,
    record: ReviewRecord,
    cause: &clment_common::ports::JobError,
) -> Result<Response, ApiError> {
    tracing::error!(error = %cause, review = %record.id, contract = %record.contract, "a review could not be queued");
    let scope = &ctx.granted.scope;
    let (id, contract) = (record.id, record.contract);
    let now = OffsetDateTime::now_utc().max(record.updated_at + time::Duration::microseconds(1));
    let failed = ReviewRecord {
        status: ReviewStatus::Failed,
        failure: Some(ReviewFailure {
            code: NOT_QUEUED.to_owned(),
            detail: "The review could not be queued, so it never ran; ask for it again.".to_owned(),
        }),
        completed_at: Some(now),
        updated_at: now,
        idempotency_key: None,
        ..record.clone()
    };
    match ctx
        .state
        .reviews
        .replace(scope, &failed, record.updated_at)
        .await
    {
        Ok(()) => {
            let mut event = ctx.event(
                "review",
                &id.to_string(),
                Some(&contract.to_string()),
                serde_json::json!({ "code": NOT_QUEUED }),
            );
            event.action = "review.failed".to_owned();
            event.outcome = Outcome::Failure;
            event.reason = Some(NOT_QUEUED.to_owned());
            if let Err(e) = ctx.append(event).await {
                tracing::error!(error = %e, review = %id, "the failed review could not be audited");
            }
        }
        // The job changed it: it was queued after all.
        Err(PortError::Conflict(_)) => return Ok(accepted(&record)),
        // Deleted meanwhile.
        Err(PortError::NotFound) => {}
        Err(e) => {
            // Not even marked failed: the review goes, freeing its key, so nothing waits forever.
            tracing::error!(error = %e, review = %id, "the unqueued review could not be marked failed");
            let _ = ctx.state.reviews.delete(scope, contract, id).await;
        }
    }
    Err(ApiError::new(
        ErrorCode::Unavailable,
        "The review could not be queued, so it will not run; ask again shortly (the same Idempotency-Key asks again).",
    )
    .with("reviewId", id.to_string())
    .header(header::RETRY_AFTER, HeaderValue::from_static("5")))
}

/// 202 with the review (without its result) and its `Location`.
fn accepted(record: &ReviewRecord) -> Response {
    let mut resp = reply::json(StatusCode::ACCEPTED, &view(record, false));
    if let Ok(v) = HeaderValue::from_str(&location(record)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The contract's reviews, newest first.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/contracts/{contractId}/reviews", tag = "reviews",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("contractId" = String, Path, description = "The contract id"),
        ("limit" = Option<usize>, Query, description = "1 to 100, default 25"),
        ("continuation" = Option<String>, Query, description = "From the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page (results omitted: read a review for its result)", body = ReviewPage),
        (status = 400, description = "Bad limit or continuation", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 404, description = "No such contract in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn list(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let contract = contract_id(ctx)?;
    let page = super::paging::PageRequest::parse(&ctx.req.query)?;
    live(ctx, contract).await?;
    let items = ctx
        .state
        .reviews
        .list(
            &ctx.granted.scope,
            contract,
            page.limit + 1,
            page.after.map(ReviewId::from_u128),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let (items, continuation) = page.finish(items, |r| r.id.as_u128());
    Ok(reply::json(
        StatusCode::OK,
        &ReviewPage {
            items: items.iter().map(|r| view(r, false)).collect(),
            continuation,
        },
    ))
}

async fn found(ctx: &Ctx<'_>, contract: ContractId) -> Result<ReviewRecord, ApiError> {
    let id = review_id(ctx)?;
    live(ctx, contract).await?;
    ctx.state
        .reviews
        .get(&ctx.granted.scope, contract, id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(no_review)
}

/// One review, with its result once completed.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/contracts/{contractId}/reviews/{reviewId}", tag = "reviews",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("contractId" = String, Path, description = "The contract id"),
        ("reviewId" = String, Path, description = "The review id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The review", body = ReviewView),
        (status = 404, description = "No such contract or review in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn get(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let contract = contract_id(ctx)?;
    let r = found(ctx, contract).await?;
    Ok(reply::json(StatusCode::OK, &view(&r, true)))
}

/// Deletes a review and its result. Idempotent.
#[utoipa::path(
    delete, path = "/api/orgs/{orgId}/contracts/{contractId}/reviews/{reviewId}", tag = "reviews",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("contractId" = String, Path, description = "The contract id"),
        ("reviewId" = String, Path, description = "The review id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted (or already gone)"),
        (status = 404, description = "No such contract in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let contract = contract_id(ctx)?;
    let id = review_id(ctx)?;
    live(ctx, contract).await?;
    let scope = &ctx.granted.scope;
    let Some(r) = ctx
        .state
        .reviews
        .get(scope, contract, id)
        .await
        .map_err(|e| ApiError::internal(&e))?
    else {
        return Ok(reply::empty(StatusCode::NO_CONTENT));
    };
    // The event first: a delete that is not in the trail must not happen. A failed delete after it
    // is retried by the caller (the event then repeats, which the trail tolerates).
    let details = serde_json::json!({ "status": r.status });
    ctx.audit(
        "review",
        &id.to_string(),
        Some(&contract.to_string()),
        details,
    )
    .await
    .map_err(|e| ApiError::internal(&e))?;
    ctx.state
        .reviews
        .delete(scope, contract, id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(reply::empty(StatusCode::NO_CONTENT))
}
