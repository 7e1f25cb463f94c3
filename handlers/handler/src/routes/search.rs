//! `GET /api/orgs/{orgId}/search`: the org's contracts, searched by chunk. The org filter comes from
//! the caller's scope inside the index adapter; nothing in the query can name another org. Hits of
//! contracts that are gone or being deleted are dropped here as well, so deleted text never shows.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clment_common::domain::ContractId;
use clment_common::ports::{ContractStatus, SearchMode, SearchQuery};
use clment_common::problem::ErrorCode;
use clment_common::text::analyze::query_terms;
use clment_common::text::snippet::{Snippet, snippet};
use futures_util::future::join_all;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use warp::reply::Response;

use crate::http::dispatch::Ctx;
use crate::http::reply::{self, ApiError};

const PROBLEM: &str = "application/problem+json";

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most results per page.
pub const MAX_TOP: usize = 50;
/// Deepest page start (`skip`): past it, refine the query.
pub const MAX_SKIP: usize = 1_000;
/// Snippet length, in characters.
const SNIPPET_CHARS: usize = 240;

/// One matching chunk.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchItem {
    /// The contract.
    pub contract_id: String,
    /// Its title.
    pub title: String,
    /// The chunk (`{contractId}-{ordinal}`).
    pub chunk_id: String,
    /// The best part of the chunk, with the query's words marked.
    pub snippet: Snippet,
    /// First character of the chunk in the contract's extracted text.
    pub start: u64,
    /// One past its last character.
    pub end: u64,
    /// Page of the chunk's start (from 1).
    pub page_start: u32,
    /// Page of its end.
    pub page_end: u32,
    /// Relevance; comparable within one answer only.
    pub score: f64,
}

/// A page of results.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResults {
    /// Best first.
    pub items: Vec<SearchItem>,
    /// `keyword` (BM25 only) or `hybrid` (BM25 and vectors fused by reciprocal rank).
    pub mode: SearchMode,
    /// Why the search is keyword-only, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Pass as `continuation` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    q: Option<String>,
    #[serde(rename = "contractId")]
    contract_id: Option<String>,
    top: Option<usize>,
    continuation: Option<String>,
}

fn bad(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, detail)
}

/// Searches the caller's organisation.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/search", tag = "search",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("q" = String, Query, description = "Words to find (1 to 500 characters)"),
        ("contractId" = Option<String>, Query, description = "Only this contract"),
        ("top" = Option<usize>, Query, description = "Results per page, 1 to 50, default 10"),
        ("continuation" = Option<String>, Query, description = "From the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Matching chunks, best first. Only indexed contracts are searched; scanned PDFs without a text layer are not (no OCR): they end `failed` with `no_text`.", body = SearchResults),
        (status = 400, description = "Missing or bad query", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 404, description = "`contractId` names no contract of this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn search(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let q: Query = serde_urlencoded::from_str(&ctx.req.query)
        .map_err(|_| bad("Query: `q`, `contractId`, `top` (1-50) and `continuation` only."))?;
    let text = q.q.as_deref().map(str::trim).unwrap_or_default().to_owned();
    if text.is_empty() {
        return Err(bad("q: say what to search for."));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(bad("q: at most 500 characters."));
    }
    if query_terms(&text, 1).is_empty() {
        return Err(bad("q: has no words to search for."));
    }
    let top = q.top.unwrap_or(10);
    if !(1..=MAX_TOP).contains(&top) {
        return Err(bad("top: 1 to 50."));
    }
    let skip = match q.continuation {
        Some(c) => URL_SAFE_NO_PAD
            .decode(c.as_bytes())
            .ok()
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u32::from_be_bytes(b) as usize)
            .filter(|s| *s <= MAX_SKIP)
            .ok_or_else(|| bad("continuation: not one this API issued."))?,
        None => 0,
    };
    let scope = &ctx.granted.scope;
    let contract = match q.contract_id {
        Some(id) => {
            let id = ContractId::parse(&id).map_err(|e| bad(&format!("contractId: {e}.")))?;
            let visible = ctx
                .state
                .contracts
                .get(scope, id)
                .await
                .map_err(|e| ApiError::internal(&e))?
                .is_some_and(|r| r.status != ContractStatus::Deleting);
            if !visible {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    "No contract with this id in your organisation.",
                ));
            }
            Some(id)
        }
        None => None,
    };

    // The query's embedding, when a model is configured; without it (or when it fails) keyword only.
    let (vector, notice) = match &ctx.state.embedder {
        None => (
            None,
            Some("Keyword search only: no embedding model is configured.".to_owned()),
        ),
        Some(e) => match e.embed(std::slice::from_ref(&text)).await {
            Ok(mut v) if v.len() == 1 => (v.pop(), None),
            Ok(_) | Err(_) => {
                tracing::warn!("query embedding failed; answering with keyword search");
                (
                    None,
                    Some(
                        "Keyword search only: the embedding model is unavailable right now."
                            .to_owned(),
                    ),
                )
            }
        },
    };
    let query = SearchQuery {
        text: text.clone(),
        contract,
        top,
        skip,
        vector,
    };
    let page = ctx
        .state
        .index
        .search(scope, &query)
        .await
        .map_err(|e| ApiError::internal(&e))?;

    // Titles, and a last check that every contract is still there.
    let mut ids: Vec<ContractId> = page.hits.iter().map(|h| h.contract).collect();
    ids.sort_unstable();
    ids.dedup();
    let records = join_all(ids.iter().map(|id| ctx.state.contracts.get(scope, *id))).await;
    let mut titles = HashMap::new();
    for (id, r) in ids.into_iter().zip(records) {
        if let Some(r) = r.map_err(|e| ApiError::internal(&e))?
            && r.status != ContractStatus::Deleting
        {
            titles.insert(id, r.title);
        }
    }
    let items = page
        .hits
        .into_iter()
        .filter_map(|h| {
            let title = titles.get(&h.contract)?.clone();
            Some(SearchItem {
                contract_id: h.contract.to_string(),
                title,
                chunk_id: h.chunk_id,
                snippet: snippet(&h.text, &text, SNIPPET_CHARS),
                start: h.start,
                end: h.end,
                page_start: h.page_start,
                page_end: h.page_end,
                score: h.score,
            })
        })
        .collect();
    let next = skip + top;
    let continuation = (page.more && next <= MAX_SKIP)
        .then(|| URL_SAFE_NO_PAD.encode(u32::try_from(next).unwrap_or(u32::MAX).to_be_bytes()));
    Ok(reply::json(
        StatusCode::OK,
        &SearchResults {
            items,
            mode: page.mode,
            notice: if page.mode == SearchMode::Keyword {
                notice.or_else(|| {
                    Some("Keyword search only: these contracts have no vectors.".into())
                })
            } else {
                None
            },
            continuation,
        },
    ))
}
