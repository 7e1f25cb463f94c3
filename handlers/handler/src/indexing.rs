//! Indexing a landed contract: extract its text (in a resource-limited worker process), store the
//! text encrypted, cut it into chunks, embed them when a model is configured, and replace the
//! contract's chunks in the search index. The same function runs from the local job queue and from the
//! Azure blob trigger.
//!
//! States: `pending` → `indexing` → `indexed`, or `failed` with a reason code. A document that cannot
//! be read ends `failed` for good; a store, worker or model that is unavailable is transient and the
//! caller retries (the queue with backoff; the Functions host by redelivering the blob). Every outcome
//! that changes a contract writes an audit event (`contract.indexed`, `contract.index_failed`).
//!
//! A delete racing with indexing is settled by the final status write, which is conditional on the
//! record being unchanged: when it loses, the chunks and text written here are removed again.

use std::time::Instant;

use bytes::Bytes;
use clment_common::TenantScope;
use clment_common::content::ContentKind;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{
    Actor, AuditEvent, ChunkDoc, ContractRecord, ContractStatus, ExtractError, ExtractFailureCode,
    Failure, Outcome as AuditOutcome, PortError,
};
use clment_common::text::chunk::{ChunkParams, chunk};
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::state::AppState;

/// What indexing did.
#[derive(Debug, PartialEq, Eq)]
pub enum Indexed {
    /// Indexed now, in this many chunks.
    Done {
        /// Chunks written.
        chunks: usize,
    },
    /// Already indexed (a redelivery): nothing written.
    AlreadyIndexed,
    /// The document cannot be indexed; the contract is `failed` with this code.
    Failed(&'static str),
    /// Nothing to do: the contract is gone or being deleted.
    Skipped(&'static str),
}

impl Indexed {
    /// One line for the Functions host's log: ids and counts only.
    #[must_use]
    pub fn describe(&self, contract: ContractId) -> String {
        match self {
            Self::Done { chunks } => format!("contract {contract} indexed: {chunks} chunks"),
            Self::AlreadyIndexed => format!("contract {contract} already indexed"),
            Self::Failed(code) => format!("contract {contract} failed: {code}"),
            Self::Skipped(why) => format!("contract {contract} skipped: {why}"),
        }
    }
}

/// Indexing could not finish now; retrying later may succeed. Never holds contract text.
#[derive(Debug, thiserror::Error)]
#[error("indexing deferred: {0}")]
pub struct Deferred(pub String);

impl From<PortError> for Deferred {
    fn from(e: PortError) -> Self {
        Self(e.to_string())
    }
}

/// Embedding inputs per call to the embedder (the adapter splits further if it must).
const EMBED_BATCH: usize = 64;

/// Indexes one contract. `content` is the blob's bytes when the trigger carried them; otherwise they
/// are read from the document store.
///
/// # Errors
/// [`Deferred`] when a dependency is unavailable (the caller retries).
pub async fn index_contract(
    state: &AppState,
    org: &OrgId,
    id: ContractId,
    content: Option<Bytes>,
) -> Result<Indexed, Deferred> {
    let scope = TenantScope::for_operator(org.clone(), state.settings.region);
    let Some(record) = state.contracts.get(&scope, id).await? else {
        // The blob lands before its metadata: while the blob exists, the record may still come.
        return match state.documents.open(&scope, id).await? {
            Some(_) => Err(Deferred(
                "the contract's metadata is not written yet".into(),
            )),
            None => Ok(Indexed::Skipped("no such contract")),
        };
    };
    match record.status {
        ContractStatus::Deleting => return Ok(Indexed::Skipped("being deleted")),
        ContractStatus::Indexed => return Ok(Indexed::AlreadyIndexed),
        ContractStatus::Pending | ContractStatus::Indexing | ContractStatus::Failed => {}
    }
    let started = Instant::now();
    let record = set_status(state, &scope, record, ContractStatus::Indexing, None).await?;

    let bytes = match content {
        Some(b) => b,
        None => match read_original(state, &scope, id).await? {
            Original::Bytes(b) => b,
            Original::Missing => return Ok(Indexed::Skipped("the original is gone")),
            Original::TooLarge => {
                return fail(
                    state,
                    &scope,
                    record,
                    ExtractFailureCode::TooLarge.as_str(),
                    "The stored file is larger than the upload limit.".into(),
                )
                .await;
            }
        },
    };
    // The stored bytes must be the ones uploaded.
    if hex::encode(Sha256::digest(&bytes)) != record.sha256 {
        return fail(
            state,
            &scope,
            record,
            "integrity",
            "The stored file does not match the SHA-256 recorded at upload.".into(),
        )
        .await;
    }
    let Some(kind) = ContentKind::from_mime(&record.content_type) else {
        return fail(
            state,
            &scope,
            record,
            ExtractFailureCode::Unsupported.as_str(),
            "This file type is not extracted.".into(),
        )
        .await;
    };
    let extract_started = Instant::now();
    let extracted = match state.extractor.extract(kind, bytes.to_vec()).await {
        Ok(x) => x,
        Err(ExtractError::Failed { code, detail }) => {
            return fail(state, &scope, record, code.as_str(), detail).await;
        }
        Err(ExtractError::Unavailable(why)) => return Err(Deferred(why)),
    };
    drop(bytes);
    let extract_ms = extract_started.elapsed().as_millis();
    state.texts.put_text(&scope, id, &extracted).await?;

    let spans = chunk(&extracted, ChunkParams::default());
    let mut docs: Vec<ChunkDoc> = spans
        .iter()
        .map(|s| ChunkDoc {
            id: ChunkDoc::id_for(id, s.ordinal),
            contract: id,
            ordinal: s.ordinal,
            start: s.start,
            end: s.end,
            page_start: s.page_start,
            page_end: s.page_end,
            text: extracted.text[s.start_byte..s.end_byte].to_owned(),
            vector: None,
        })
        .collect();
    let hybrid = if let Some(embedder) = &state.embedder {
        for batch in docs.chunks_mut(EMBED_BATCH) {
            let inputs: Vec<String> = batch.iter().map(|d| d.text.clone()).collect();
            let vectors = embedder.embed(&inputs).await?;
            if vectors.len() != batch.len() {
                return Err(Deferred(
                    "the embedder answered the wrong number of vectors".into(),
                ));
            }
            for (d, v) in batch.iter_mut().zip(vectors) {
                d.vector = Some(v);
            }
        }
        true
    } else {
        false
    };
    let chunks = docs.len();
    state.index.replace_contract(&scope, id, docs).await?;

    let details = serde_json::json!({
        "chunks": chunks,
        "pages": extracted.pages.len(),
        "characters": extracted.text.chars().count(),
        "vectors": hybrid,
        "extractMs": extract_ms,
        "totalMs": started.elapsed().as_millis(),
    });
    drop(extracted);
    // The event first, then the status: a retry after a failed status write may repeat the event,
    // but no indexed contract is ever missing from the trail.
    audit(
        state,
        &scope,
        id,
        "contract.indexed",
        AuditOutcome::Success,
        None,
        details,
    )
    .await?;
    if let Err(e) = set_status(state, &scope, record, ContractStatus::Indexed, None).await {
        // A delete may have won the race: then what was written here must go again.
        if !still_wanted(state, &scope, id).await? {
            remove_derived(state, &scope, id).await?;
            return Ok(Indexed::Skipped("deleted while indexing"));
        }
        return Err(e);
    }
    tracing::info!(contract = %id, chunks, extract_ms = extract_ms as u64, "contract indexed");
    Ok(Indexed::Done { chunks })
}

/// Ends a contract whose indexing kept being deferred: `failed` with `unavailable`.
///
/// # Errors
/// [`Deferred`] when the stores are still unavailable.
pub async fn give_up(
    state: &AppState,
    org: &OrgId,
    id: ContractId,
    attempts: u32,
) -> Result<Indexed, Deferred> {
    let scope = TenantScope::for_operator(org.clone(), state.settings.region);
    match state.contracts.get(&scope, id).await? {
        Some(r) if matches!(r.status, ContractStatus::Pending | ContractStatus::Indexing) => {
            fail(
                state,
                &scope,
                r,
                "unavailable",
                format!(
                    "Indexing could not complete after {attempts} attempts; upload the file again."
                ),
            )
            .await
        }
        _ => Ok(Indexed::Skipped("nothing to give up")),
    }
}

/// Removes a contract's index entries and extracted text (the delete path and the reconciler).
///
/// # Errors
/// When a store fails; retrying is safe.
pub async fn remove_derived(
    state: &AppState,
    scope: &TenantScope,
    id: ContractId,
) -> Result<(), PortError> {
    state.index.delete_contract(scope, id).await?;
    state.texts.delete_text(scope, id).await?;
    Ok(())
}

async fn still_wanted(
    state: &AppState,
    scope: &TenantScope,
    id: ContractId,
) -> Result<bool, Deferred> {
    Ok(state
        .contracts
        .get(scope, id)
        .await?
        .is_some_and(|r| r.status != ContractStatus::Deleting))
}

/// A stored original, as read for indexing.
enum Original {
    Bytes(Bytes),
    Missing,
    /// Larger than the upload limit (lowered since the upload): never indexed.
    TooLarge,
}

/// Reads the stored original, bounded by the upload limit.
async fn read_original(
    state: &AppState,
    scope: &TenantScope,
    id: ContractId,
) -> Result<Original, Deferred> {
    let Some(mut stream) = state.documents.open(scope, id).await? else {
        return Ok(Original::Missing);
    };
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Deferred(format!("reading the original: {e}")))?;
        if (out.len() + chunk.len()) as u64 > state.settings.max_upload_bytes {
            return Ok(Original::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Original::Bytes(Bytes::from(out)))
}

/// Marks the contract failed with `code`, audits, and reports it.
async fn fail(
    state: &AppState,
    scope: &TenantScope,
    record: ContractRecord,
    code: &'static str,
    detail: String,
) -> Result<Indexed, Deferred> {
    let id = record.id;
    // Nothing of a failed contract stays searchable (a retry after an earlier success is possible).
    remove_derived(state, scope, id).await?;
    let failure = Failure {
        code: code.to_owned(),
        detail: detail.clone(),
    };
    let details = serde_json::json!({ "code": code, "detail": detail });
    audit(
        state,
        scope,
        id,
        "contract.index_failed",
        AuditOutcome::Failure,
        Some(code),
        details,
    )
    .await?;
    if let Err(e) = set_status(state, scope, record, ContractStatus::Failed, Some(failure)).await {
        if !still_wanted(state, scope, id).await? {
            return Ok(Indexed::Skipped("deleted while indexing"));
        }
        return Err(e);
    }
    tracing::warn!(contract = %id, code, "contract could not be indexed");
    Ok(Indexed::Failed(code))
}

/// Writes a new status if the record is unchanged since it was read.
async fn set_status(
    state: &AppState,
    scope: &TenantScope,
    record: ContractRecord,
    status: ContractStatus,
    failure: Option<Failure>,
) -> Result<ContractRecord, Deferred> {
    let mut next = record.clone();
    next.status = status;
    next.failure = failure;
    next.updated_at =
        OffsetDateTime::now_utc().max(record.updated_at + time::Duration::microseconds(1));
    state
        .contracts
        .replace(scope, next.clone(), record.updated_at)
        .await?;
    Ok(next)
}

async fn audit(
    state: &AppState,
    scope: &TenantScope,
    id: ContractId,
    action: &str,
    outcome: AuditOutcome,
    reason: Option<&str>,
    details: serde_json::Value,
) -> Result<(), Deferred> {
    let event = AuditEvent {
        action: action.to_owned(),
        actor: Actor::System {
            name: "indexer".into(),
        },
        resource_type: "contract".into(),
        resource_id: id.to_string(),
        contract_id: Some(id.to_string()),
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
