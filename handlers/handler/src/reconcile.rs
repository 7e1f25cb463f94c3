//! Consistency without a distributed transaction. Uploads write the blob first (conditional create),
//! then the metadata; deletes mark the record `deleting`, audit, then purge derived data, the blob,
//! and the metadata. A crash between steps leaves either an orphan blob (no metadata: never visible)
//! or a `deleting` record (never visible); [`reconcile`] finishes both.
//!
//! It runs locally at start-up with no grace (one process, nothing in flight) and then every
//! [`RECONCILE_INTERVAL`] with a grace; on Azure the `reconcile` timer function runs it with a grace,
//! on any instance while others serve. The grace protects in-flight work: an upload's blob exists
//! briefly before its metadata, and a delete is `deleting` briefly before its purge. Every step is
//! idempotent, so overlapping runs on several instances are safe.

use std::collections::HashSet;
use std::time::Duration;

use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{ContractStatus, PortError};
use time::OffsetDateTime;

use crate::state::AppState;

/// How old an orphan blob or a `deleting` record must be before the reconciler removes or finishes
/// it, unless `CLMENT_RECONCILE_GRACE_SECS` says otherwise.
pub const RECONCILE_GRACE: Duration = Duration::from_secs(15 * 60);

/// How often the local server runs the reconciler (on Azure the `reconcile` timer's schedule).
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Records and blobs handled per store call.
const PAGE: usize = 100;

/// Most rounds of `deleting` records per run (the next run carries on).
const MAX_DELETE_ROUNDS: usize = 100;

/// Failed items after which a run gives up (each is retried by the next run).
const MAX_FAILURES: usize = 20;

/// Removes everything a contract left behind but its audit trail. Each step is idempotent.
///
/// # Errors
/// When a store fails; retrying is safe.
pub async fn purge(state: &AppState, scope: &TenantScope, id: ContractId) -> Result<(), PortError> {
    // Derived data first (reviews, index entries, extracted text), then the original, then the
    // metadata.
    state.reviews.delete_for_contract(scope, id).await?;
    crate::indexing::remove_derived(state, scope, id).await?;
    state.documents.delete(scope, id).await?;
    state.contracts.remove(scope, id).await?;
    Ok(())
}

/// What the reconciler did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Deletes finished.
    pub deletes_finished: usize,
    /// Blobs without metadata removed.
    pub orphans_removed: usize,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A listing failed: nothing further could be found this run.
    #[error("reconciler: {0}")]
    Store(#[from] PortError),
    /// Some items could not be handled (each was logged); the rest were.
    #[error("reconciler: {failed} item(s) failed and are retried by the next run")]
    Incomplete {
        /// What was done anyway.
        done: Reconciled,
        /// How many items failed.
        failed: usize,
    },
}

/// Finishes interrupted deletes (`deleting` records last updated more than `grace` ago) and removes
/// blobs older than `grace` that have no metadata record in any status; locally also temporary files
/// older than `grace`. Pages through the stores (bounded memory), checking each blob's record on its
/// own. Safe to run concurrently with itself and with requests.
///
/// # Errors
/// When a listing fails, or some items failed (those are logged and left for the next run).
pub async fn reconcile(state: &AppState, grace: Duration) -> Result<Reconciled, ReconcileError> {
    let cutoff = OffsetDateTime::now_utc() - grace;
    let mut done = Reconciled::default();
    let mut failed = 0;
    finish_deletes(state, cutoff, &mut done, &mut failed).await?;
    remove_orphans(state, cutoff, &mut done, &mut failed).await?;
    if let Some(docs) = &state.local_documents {
        docs.remove_temp_files(cutoff)
            .await
            .map_err(|e| PortError::Unavailable(format!("temporary files: {e}")))?;
    }
    if done != Reconciled::default() {
        tracing::warn!(
            deletes_finished = done.deletes_finished,
            orphans_removed = done.orphans_removed,
            "reconciled storage after an interrupted upload or delete"
        );
    }
    if failed > 0 {
        return Err(ReconcileError::Incomplete { done, failed });
    }
    Ok(done)
}

fn scope_of(state: &AppState, org: OrgId) -> TenantScope {
    TenantScope::for_operator(org, state.settings.region)
}

/// Counts a failed item; past [`MAX_FAILURES`] the run stops.
fn failure(
    failed: &mut usize,
    what: &str,
    org: &OrgId,
    id: ContractId,
    e: &PortError,
) -> Result<(), ReconcileError> {
    tracing::error!(error = %e, org = %org, contract = %id, "reconciler could not {what}; the next run retries");
    *failed += 1;
    if *failed >= MAX_FAILURES {
        return Err(
            PortError::Unavailable(format!("{failed} items failed; stopping this run")).into(),
        );
    }
    Ok(())
}

async fn finish_deletes(
    state: &AppState,
    cutoff: OffsetDateTime,
    done: &mut Reconciled,
    failed: &mut usize,
) -> Result<(), ReconcileError> {
    // Keys that failed this run: asked for on top of a page, and skipped.
    let mut skip: HashSet<(OrgId, ContractId)> = HashSet::new();
    for _ in 0..MAX_DELETE_ROUNDS {
        let want = PAGE + skip.len();
        let batch = state.contracts.stale_deleting(cutoff, want).await?;
        let complete = batch.len() < want;
        let mut progressed = false;
        for (org, id) in batch {
            if skip.contains(&(org.clone(), id)) {
                continue;
            }
            progressed = true;
            let scope = scope_of(state, org.clone());
            // Read again: only a record still `deleting` and still stale is purged.
            let still = match state.contracts.get(&scope, id).await {
                Ok(r) => {
                    r.is_some_and(|r| r.status == ContractStatus::Deleting && r.updated_at < cutoff)
                }
                Err(e) => {
                    failure(failed, "read a deleting contract", &org, id, &e)?;
                    skip.insert((org, id));
                    continue;
                }
            };
            if !still {
                continue;
            }
            match purge(state, &scope, id).await {
                Ok(()) => done.deletes_finished += 1,
                Err(e) => {
                    failure(failed, "finish a delete", &org, id, &e)?;
                    skip.insert((org, id));
                }
            }
        }
        if complete || !progressed {
            return Ok(());
        }
    }
    tracing::warn!(
        "reconciler: more interrupted deletes than one run finishes; the next run carries on"
    );
    Ok(())
}

async fn remove_orphans(
    state: &AppState,
    cutoff: OffsetDateTime,
    done: &mut Reconciled,
    failed: &mut usize,
) -> Result<(), ReconcileError> {
    let mut after = None;
    loop {
        let page = state.documents.sweep(after, PAGE).await?;
        for blob in page.blobs {
            // Younger blobs may belong to uploads in flight (blob first, metadata next).
            if blob.last_modified >= cutoff {
                continue;
            }
            let scope = scope_of(state, blob.org.clone());
            // A record in any status (`deleting` included) owns its blob.
            let orphan = match state.contracts.get(&scope, blob.id).await {
                Ok(r) => r.is_none(),
                Err(e) => {
                    failure(failed, "check a blob's record", &blob.org, blob.id, &e)?;
                    continue;
                }
            };
            if !orphan {
                continue;
            }
            match state.documents.delete(&scope, blob.id).await {
                Ok(true) => done.orphans_removed += 1,
                // Removed concurrently (another run, or a delete).
                Ok(false) => {}
                Err(e) => failure(failed, "remove an orphan blob", &blob.org, blob.id, &e)?,
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}
