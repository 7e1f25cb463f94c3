//! The audit trail over HTTP: a contract's activity, the org-wide export (NDJSON or CSV, streamed),
//! chain and digest verification for a window, and the signed digests with their public keys.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use clment_common::TenantScope;
use clment_common::audit::{self, CSV_HEADER, Digest, Report, csv_record};
use clment_common::domain::ContractId;
use clment_common::ports::{Actor, AuditLog, Outcome, StoredEvent};
use clment_common::problem::ErrorCode;
use http::StatusCode;
use http::header::{self, HeaderValue};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warp::Reply as _;
use warp::reply::Response;

use crate::http::dispatch::Ctx;
use crate::http::reply::{self, ApiError};

const PROBLEM: &str = "application/problem+json";

/// One entry of a contract's activity: who did what, when. Client addresses and the chain's hashes
/// are left to the admins' export.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityItem {
    /// Event id.
    pub id: String,
    /// Sequence number in the org's trail.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// What (`contract.uploaded`, `review.completed`, ...).
    pub action: String,
    /// Who.
    pub actor: Actor,
    /// `contract` or `review`.
    pub resource_type: String,
    /// The contract's or review's id.
    pub resource_id: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Action details (for example the title before and after a rename).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<StoredEvent> for ActivityItem {
    fn from(e: StoredEvent) -> Self {
        Self {
            id: e.id,
            seq: e.seq,
            at: e.at,
            action: e.event.action,
            actor: e.event.actor,
            resource_type: e.event.resource_type,
            resource_id: e.event.resource_id,
            outcome: e.event.outcome,
            reason: e.event.reason,
            details: e.event.details,
        }
    }
}

/// A page of activity, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActivityPage {
    /// The events.
    pub items: Vec<ActivityItem>,
    /// Pass as `continuation` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityQuery {
    limit: Option<usize>,
    continuation: Option<String>,
}

fn bad_query(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, detail)
}

/// A contract's trail and its reviews', newest first; still readable after the contract is deleted.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/contracts/{contractId}/activity", tag = "audit",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("contractId" = String, Path, description = "The contract id"),
        ("limit" = Option<usize>, Query, description = "1 to 100, default 50"),
        ("continuation" = Option<String>, Query, description = "From the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = ActivityPage),
        (status = 400, description = "Bad limit or continuation", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 404, description = "No contract with this id ever existed in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn activity(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let contract = ContractId::parse(ctx.req.params.get("contractId").unwrap_or_default())
        .map_err(|e| ApiError::new(ErrorCode::InvalidPath, format!("contractId: {e}.")))?;
    let q: ActivityQuery = serde_urlencoded::from_str(&ctx.req.query)
        .map_err(|_| bad_query("Query: `limit` (1-100) and `continuation` only."))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(bad_query("limit: 1 to 100."));
    }
    let before = match q.continuation {
        Some(c) => URL_SAFE_NO_PAD
            .decode(c.as_bytes())
            .ok()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| bad_query("continuation: not one this API issued."))?,
        None => u64::MAX,
    };
    let mut items = ctx
        .state
        .audit
        .read_contract(&ctx.granted.scope, &contract.to_string(), before, limit + 1)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if items.is_empty() && before == u64::MAX {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "No contract with this id in your organisation.",
        ));
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let continuation = more
        .then(|| {
            items
                .last()
                .map(|e| URL_SAFE_NO_PAD.encode(e.seq.to_be_bytes()))
        })
        .flatten();
    Ok(reply::json(
        StatusCode::OK,
        &ActivityPage {
            items: items.into_iter().map(ActivityItem::from).collect(),
            continuation,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// A parsed `from`/`to` window.
struct Window {
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
}

fn window_query(query: &str, formats: bool) -> Result<(Window, Option<String>), ApiError> {
    let q: WindowQuery = serde_urlencoded::from_str(query).map_err(|_| {
        bad_query(if formats {
            "Query: `from`, `to` (RFC 3339) and `format` (ndjson or csv) only."
        } else {
            "Query: `from` and `to` (RFC 3339) only."
        })
    })?;
    if !formats && q.format.is_some() {
        return Err(bad_query("Query: `from` and `to` (RFC 3339) only."));
    }
    let parse = |name: &str, v: Option<String>| {
        v.map(|s| {
            OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| {
                bad_query(format!(
                    "{name}: an RFC 3339 time such as 2026-01-31T00:00:00Z."
                ))
            })
        })
        .transpose()
    };
    let from = parse("from", q.from)?;
    let to = parse("to", q.to)?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(bad_query("from must not be after to."));
    }
    Ok((Window { from, to }, q.format))
}

/// The export's two shapes.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    /// One JSON event per line (verifiable).
    Ndjson,
    /// Spreadsheet-friendly.
    Csv,
}

impl Format {
    /// `ndjson` or `csv`.
    #[must_use]
    pub fn parse(s: Option<&str>) -> Option<Self> {
        match s {
            None | Some("ndjson") => Some(Self::Ndjson),
            Some("csv") => Some(Self::Csv),
            Some(_) => None,
        }
    }
}

/// Streams the org's trail for a window, page by page, in bounded memory.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/audit", tag = "audit",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("from" = Option<String>, Query, description = "Start (RFC 3339, inclusive); default: the beginning"),
        ("to" = Option<String>, Query, description = "End (RFC 3339, exclusive); default: now"),
        ("format" = Option<String>, Query, description = "`ndjson` (default; one event per line, verifiable) or `csv`"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The events, oldest first", content_type = "application/x-ndjson", body = Vec<StoredEvent>),
        (status = 400, description = "Bad window or format", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn export(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let (w, format) = window_query(&ctx.req.query, true)?;
    let format =
        Format::parse(format.as_deref()).ok_or_else(|| bad_query("format: ndjson or csv."))?;
    let scope = ctx.granted.scope.clone();
    let log = Arc::clone(&ctx.state.audit);
    let range = audit::window(&*log, &scope, w.from, w.to)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let body = export_stream(log, scope.clone(), range, format);
    let mut resp = warp::reply::stream(body).into_response();
    let (mime, ext) = match format {
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"audit-{}.{ext}\"",
        scope.org()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// The export body: a task reads one page of events at a time and hands each encoded page over a
/// channel of two, so memory stays bounded by two pages whatever the window's size, and a client that
/// goes away stops the reading. A store failure mid-way aborts the response (the client sees a broken
/// transfer, never a silently short file).
pub fn export_stream(
    log: Arc<dyn AuditLog>,
    scope: TenantScope,
    range: std::ops::Range<u64>,
    format: Format,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let mut out = Vec::with_capacity(64 * 1024);
        if matches!(format, Format::Csv) {
            let mut w = csv::Writer::from_writer(&mut out);
            let _ = w.write_record(CSV_HEADER);
            drop(w);
        }
        let mut after = range.start.saturating_sub(1);
        while after + 1 < range.end {
            let page = match log.read(&scope, after, audit::PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed mid-stream");
                    let _ = tx
                        .send(Err(std::io::Error::other("audit store failed")))
                        .await;
                    return;
                }
            };
            // A short page is the trail's end; a page reaching past the window is the window's end.
            let done =
                page.len() < audit::PAGE || page.last().is_none_or(|e| e.seq + 1 >= range.end);
            let events = page.iter().take_while(|e| e.seq < range.end);
            match format {
                Format::Csv => {
                    let mut w = csv::Writer::from_writer(&mut out);
                    for e in events {
                        let _ = w.write_record(csv_record(e));
                    }
                    drop(w);
                }
                Format::Ndjson => {
                    for e in events {
                        let _ = serde_json::to_writer(&mut out, e);
                        out.push(b'\n');
                    }
                }
            }
            if tx
                .send(Ok(Bytes::from(std::mem::take(&mut out))))
                .await
                .is_err()
            {
                return; // The client went away.
            }
            if done {
                break;
            }
            after = page.last().map_or(after, |e| e.seq);
        }
        if !out.is_empty() {
            let _ = tx.send(Ok(Bytes::from(out))).await;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// Whether the window's events chain correctly and match the signed digests.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/audit/verify", tag = "audit",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("from" = Option<String>, Query, description = "Start (RFC 3339, inclusive); default: the beginning"),
        ("to" = Option<String>, Query, description = "End (RFC 3339, exclusive); default: now"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verdict (also when the trail fails: see `verified`)", body = Report),
        (status = 400, description = "Bad window", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn verify(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let (w, _) = window_query(&ctx.req.query, false)?;
    let report = audit::verify(
        &*ctx.state.audit,
        &ctx.granted.scope,
        w.from,
        w.to,
        &ctx.state.digest_keys,
    )
    .await
    .map_err(|e| ApiError::internal(&e))?;
    if !report.verified {
        tracing::warn!(
            target: "security", event = "audit.verify_failed",
            first_bad_seq = ?report.first_bad_seq, failure = ?report.failure,
            "audit trail verification failed"
        );
    }
    Ok(reply::json(StatusCode::OK, &report))
}

/// A digest signing key, for offline verification.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    /// The id digests name in `keyId`.
    pub key_id: String,
    /// The Ed25519 public key, base64url.
    pub public_key: String,
}

/// Signed digests of the org's trail.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DigestPage {
    /// The keys that sign digests (current and retired).
    pub keys: Vec<PublicKey>,
    /// Digests, oldest first.
    pub digests: Vec<Digest>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// The org's signed digests with the public keys, to check an export offline.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/audit/digests", tag = "audit",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("after" = Option<u64>, Query, description = "Digest number to start after (default 0)"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 1000"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of digests", body = DigestPage),
        (status = 400, description = "Bad query", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn digests(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let q: DigestQuery = serde_urlencoded::from_str(&ctx.req.query)
        .map_err(|_| bad_query("Query: `after` and `limit` (1-1000) only."))?;
    let limit = q.limit.unwrap_or(1000);
    if !(1..=1000).contains(&limit) {
        return Err(bad_query("limit: 1 to 1000."));
    }
    let digests = ctx
        .state
        .audit
        .read_digests(&ctx.granted.scope, q.after.unwrap_or(0), limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let next = (digests.len() == limit)
        .then(|| digests.last().map(|d| d.number))
        .flatten();
    let keys = ctx
        .state
        .digest_keys
        .public_keys()
        .into_iter()
        .map(|(key_id, public_key)| PublicKey { key_id, public_key })
        .collect();
    Ok(reply::json(
        StatusCode::OK,
        &DigestPage {
            keys,
            digests,
            next,
        },
    ))
}
