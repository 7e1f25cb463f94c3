//! Running a review: the background half of `POST .../reviews`. The same function runs from the
//! local job queue and from the Azure `run-job` queue trigger.
//!
//! States: `queued` → `running` → `completed`, or `failed` with a reason code. A review of a contract
//! that is not indexed yet stays `queued` and is retried later (it waits for the text); one whose
//! contract failed indexing fails with `contract_not_indexable`. Provider failures (timeout, rate
//! limit after retries, refusal, invalid answer) end the review `failed` with the provider's code;
//! the caller can ask again.
//!
//! The contract's text is read from the text store into a [`ReviewDocument`] (ephemeral: zeroed when
//! dropped, right after the provider answered), and nothing of it is logged or audited: events carry
//! counts. The stored result holds only verified excerpts and values found in them.

use std::sync::Arc;
use std::time::Instant;

use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId, ReviewId};
use clment_common::ports::{
    Actor, AiReviewPolicy, AuditEvent, ContractStatus, Outcome as AuditOutcome, PortError,
};
use clment_common::review::context::{Evidence, SelectOptions};
use clment_common::review::offline::OfflineProvider;
use clment_common::review::{
    CATEGORIES, Category, ReviewDocument, ReviewFailure, ReviewProvider, ReviewRecord,
    ReviewResult, ReviewStatus,
};
use time::OffsetDateTime;

use crate::config::ReviewSettings;
use crate::indexing::Deferred;
use crate::state::AppState;

/// What running a review did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reviewed {
    /// Completed now.
    Completed,
    /// Ended `failed` with this code.
    Failed(String),
    /// Nothing to do (the review or its contract is gone, or it already ended).
    Skipped(&'static str),
}

/// Runs one review.
///
/// # Errors
/// [`Deferred`] when it cannot run now: the contract is not indexed yet, or a store is unavailable.
pub async fn run_review(
    state: &AppState,
    org: &OrgId,
    contract: ContractId,
    id: ReviewId,
) -> Result<Reviewed, Deferred> {
    let scope = TenantScope::for_operator(org.clone(), state.settings.region);
    let Some(record) = state.reviews.get(&scope, contract, id).await? else {
        return Ok(Reviewed::Skipped("no such review"));
    };
    if record.status.is_final() {
        return Ok(Reviewed::Skipped("already ended"));
    }
    let Some(c) = state.contracts.get(&scope, contract).await? else {
        return Ok(Reviewed::Skipped("the contract is gone"));
    };
    match c.status {
        ContractStatus::Deleting => return Ok(Reviewed::Skipped("the contract is being deleted")),
        ContractStatus::Pending | ContractStatus::Indexing => {
            return Err(Deferred("waiting for the contract to be indexed".into()));
        }
        ContractStatus::Failed => {
            let code = c.failure.map_or_else(|| "unknown".to_owned(), |f| f.code);
            return fail(
                state,
                &scope,
                record,
                "contract_not_indexable",
                format!(
                    "The contract's text could not be extracted ({code}), so it cannot be reviewed."
                ),
            )
            .await;
        }
        ContractStatus::Indexed => {}
    }
    let started = Instant::now();
    let record = set(state, &scope, record, |r| r.status = ReviewStatus::Running).await?;
    let Some(text) = state.texts.get_text(&scope, contract).await? else {
        return Err(Deferred("the contract's extracted text is missing".into()));
    };
    let doc = ReviewDocument::new(contract, text);
    let categories: Vec<&'static Category> = record
        .categories
        .iter()
        .filter_map(|k| Category::find(k))
        .collect();
    // The org's policy, as it is now: it may forbid sending anything, or allow a smaller share.
    let policy = state
        .orgs
        .get_or_create(&scope, OffsetDateTime::now_utc())
        .await?
        .security
        .ai_review;
    let provider: &dyn ReviewProvider = if policy.allow_remote_model {
        state.reviewer.as_ref()
    } else {
        &OfflineProvider
    };
    // The context is chosen by the words and the first pass only: a search of the index for the
    // categories' descriptions (with an embedding deployment) made it worse at every weight
    // measured (ADR 0016).
    let outcome = clment_common::review::run(
        &doc,
        &categories,
        provider,
        Evidence::default(),
        &select_options(&state.settings.review, policy),
    )
    .await;
    drop(doc);
    let result = match outcome {
        Ok(r) => r,
        Err(e) => return fail(state, &scope, record, e.code(), e.to_string()).await,
    };
    let details = summary_details(&result, started);
    audit(
        state,
        &scope,
        &record,
        "review.completed",
        AuditOutcome::Success,
        None,
        details,
    )
    .await?;
    let now = OffsetDateTime::now_utc();
    match set(state, &scope, record, |r| {
        r.status = ReviewStatus::Completed;
        r.completed_at = Some(now);
        r.result = Some(result);
    })
    .await
    {
        Ok(_) => {}
        Err(_) if gone(state, &scope, contract, id).await? => {
            return Ok(Reviewed::Skipped("deleted while running"));
        }
        Err(e) => return Err(e),
    }
    tracing::info!(review = %id, contract = %contract, ms = started.elapsed().as_millis() as u64, "review completed");
    Ok(Reviewed::Completed)
}

/// Ends a review whose runs kept being deferred: `failed` with `unavailable` (or, when it was still
/// waiting for indexing, `not_indexed`).
///
/// # Errors
/// [`Deferred`] when the stores are still unavailable.
pub async fn give_up(
    state: &AppState,
    org: &OrgId,
    contract: ContractId,
    id: ReviewId,
    attempts: u32,
) -> Result<Reviewed, Deferred> {
    let scope = TenantScope::for_operator(org.clone(), state.settings.region);
    match state.reviews.get(&scope, contract, id).await? {
        Some(r) if !r.status.is_final() => {
            let waiting = state
                .contracts
                .get(&scope, contract)
                .await?
                .is_some_and(|c| {
                    matches!(c.status, ContractStatus::Pending | ContractStatus::Indexing)
                });
            let (code, detail) = if waiting {
                (
                    "not_indexed",
                    format!(
                        "The contract was still not indexed after {attempts} attempts; ask again once it is."
                    ),
                )
            } else {
                (
                    "unavailable",
                    format!("The review could not run after {attempts} attempts; ask again."),
                )
            };
            fail(state, &scope, r, code, detail).await
        }
        _ => Ok(Reviewed::Skipped("nothing to give up")),
    }
}

/// The category keys a request names, in taxonomy order (all of them when it names none).
///
/// # Errors
/// The first name that is no category.
pub fn categories_for(names: Option<&[String]>) -> Result<Vec<String>, String> {
    let Some(names) = names else {
        return Ok(CATEGORIES.iter().map(|c| c.key.to_owned()).collect());
    };
    let mut wanted = Vec::new();
    for n in names {
        let c = Category::find(n).ok_or_else(|| n.clone())?;
        wanted.push(c.index());
    }
    wanted.sort_unstable();
    wanted.dedup();
    Ok(wanted
        .into_iter()
        .map(|i| CATEGORIES[i].key.to_owned())
        .collect())
}

/// The context budget a review provider is given: for a remote one the configured share of the
/// contract (`CLMENT_REVIEW_CONTEXT_PERCENT`), or the org's when that is lower, with the org's as a
/// hard cap; the default otherwise (an offline review sends nothing).
fn select_options(review: &ReviewSettings, policy: AiReviewPolicy) -> SelectOptions {
    match review {
        ReviewSettings::Foundry {
            context_percent, ..
        } => SelectOptions {
            max_ratio: policy.context_share(*context_percent),
            // The org's own limit holds even for short contracts, which are otherwise sent whole.
            cap_ratio: policy.max_context_percent.map(|p| f64::from(p) / 100.0),
            ..SelectOptions::default()
        },
        ReviewSettings::Offline => SelectOptions::default(),
    }
}

fn summary_details(r: &ReviewResult, started: Instant) -> serde_json::Value {
    serde_json::json!({
        "provider": r.provider,
        "model": r.model,
        "categories": r.categories.len(),
        "present": r.categories.iter().filter(|f| f.present).count(),
        "excerpts": r.categories.iter().map(|f| f.excerpts.len()).sum::<usize>(),
        "droppedQuotes": r.dropped_quotes,
        "tokensSent": r.minimisation.tokens_sent,
        "contractTokens": r.minimisation.contract_tokens,
        "promptTokens": r.usage.prompt_tokens,
        "completionTokens": r.usage.completion_tokens,
        "modelCalls": r.usage.calls,
        "totalMs": started.elapsed().as_millis(),
    })
}

async fn gone(
    state: &AppState,
    scope: &TenantScope,
    contract: ContractId,
    id: ReviewId,
) -> Result<bool, Deferred> {
    Ok(state.reviews.get(scope, contract, id).await?.is_none())
}

/// Marks the review failed with `code`, audits, and reports it.
async fn fail(
    state: &AppState,
    scope: &TenantScope,
    record: ReviewRecord,
    code: &str,
    detail: String,
) -> Result<Reviewed, Deferred> {
    let (contract, id) = (record.contract, record.id);
    let details = serde_json::json!({ "code": code, "detail": detail });
    audit(
        state,
        scope,
        &record,
        "review.failed",
        AuditOutcome::Failure,
        Some(code),
        details,
    )
    .await?;
    let now = OffsetDateTime::now_utc();
    let failure = ReviewFailure {
        code: code.to_owned(),
        detail,
    };
    match set(state, scope, record, |r| {
        r.status = ReviewStatus::Failed;
        r.completed_at = Some(now);
        r.failure = Some(failure);
    })
    .await
    {
        Ok(_) => {}
        Err(_) if gone(state, scope, contract, id).await? => {
            return Ok(Reviewed::Skipped("deleted while running"));
        }
        Err(e) => return Err(e),
    }
    tracing::warn!(review = %id, contract = %contract, code, "review failed");
    Ok(Reviewed::Failed(code.to_owned()))
}

/// Applies `change` and writes it if the record is unchanged since it was read.
async fn set(
    state: &AppState,
    scope: &TenantScope,
    record: ReviewRecord,
    change: impl FnOnce(&mut ReviewRecord),
) -> Result<ReviewRecord, Deferred> {
    let mut next = record.clone();
    change(&mut next);
    next.updated_at =
        OffsetDateTime::now_utc().max(record.updated_at + time::Duration::microseconds(1));
    state
        .reviews
        .replace(scope, &next, record.updated_at)
        .await
        .map_err(|e: PortError| Deferred(e.to_string()))?;
    Ok(next)
}

async fn audit(
    state: &AppState,
    scope: &TenantScope,
    record: &ReviewRecord,
    action: &str,
    outcome: AuditOutcome,
    reason: Option<&str>,
    details: serde_json::Value,
) -> Result<(), Deferred> {
    let event = AuditEvent {
        action: action.to_owned(),
        actor: Actor::System {
            name: "reviewer".into(),
        },
        resource_type: "review".into(),
        resource_id: record.id.to_string(),
        contract_id: Some(record.contract.to_string()),
        outcome,
        reason: reason.map(str::to_owned),
        details,
        request_id: None,
        client: clment_common::ports::Client::default(),
    };
    state
        .audit
        .append(scope, event, OffsetDateTime::now_utc())
        .await?;
    Ok(())
}

/// Shared so tests can swap the provider.
pub type Provider = Arc<dyn ReviewProvider>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_review_gets_the_configured_share_of_the_contract() {
        let foundry = |percent| ReviewSettings::Foundry {
            endpoint: "https://x.openai.azure.com".into(),
            deployment: "chat".into(),
            api_version: "v1".into(),
            api_key: None,
            timeout: std::time::Duration::from_secs(60),
            context_percent: percent,
        };
        let open = AiReviewPolicy::default();
        assert!((select_options(&foundry(45), open).max_ratio - 0.45).abs() < 1e-12);
        assert!((select_options(&foundry(100), open).max_ratio - 1.0).abs() < 1e-12);
        assert_eq!(
            select_options(&foundry(35), open),
            SelectOptions::default(),
            "35 % is the default budget"
        );
        assert_eq!(
            select_options(&ReviewSettings::Offline, open),
            SelectOptions::default()
        );
        // An org may send less than the deployment allows, never more.
        let org = |p| AiReviewPolicy {
            allow_remote_model: true,
            max_context_percent: Some(p),
        };
        assert!((select_options(&foundry(35), org(10)).max_ratio - 0.10).abs() < 1e-12);
        assert!((select_options(&foundry(35), org(80)).max_ratio - 0.35).abs() < 1e-12);
        // The org's limit is a cap that the short-contract floor does not lift.
        assert_eq!(select_options(&foundry(35), org(10)).cap_ratio, Some(0.10));
        assert_eq!(select_options(&foundry(35), org(80)).cap_ratio, Some(0.80));
        assert_eq!(select_options(&foundry(35), open).cap_ratio, None);
    }
}
