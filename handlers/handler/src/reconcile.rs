//! Consistency without a distributed transaction. Uploads write the blob first (conditional create),
//! then the metadata; deletes mark the record `deleting`, audit, then purge derived data, the blob,
//! and the metadata. A crash between steps leaves either an orphan blob (no metadata: never visible)
//! or a `deleting` record (never visible); [`reconcile`] finishes both at start-up.

use clment_common::TenantScope;
use clment_common::domain::ContractId;
use clment_common::ports::{ContractStatus, PortError};

use crate::state::AppState;

/// Removes everything a contract left behind but its audit trail. Each step is idempotent.
///
/// # Errors
/// When a store fails; retrying is safe.
pub async fn purge(state: &AppState, scope: &TenantScope, id: ContractId) -> Result<(), PortError> {
    // Derived data (index entries, extracted text, reviews) is purged here as those capabilities land.
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

/// Finishes interrupted deletes and removes orphan blobs (local backend; run before serving).
///
/// # Errors
/// When a store fails.
pub async fn reconcile(state: &AppState) -> anyhow::Result<Reconciled> {
    let Some(local) = &state.local else {
        return Ok(Reconciled::default());
    };
    let mut done = Reconciled::default();
    let contracts = local.all_contracts().await?;
    for (org, id, status) in &contracts {
        if *status == ContractStatus::Deleting {
            let scope = TenantScope::for_operator(org.clone(), state.settings.region);
            purge(state, &scope, *id).await?;
            done.deletes_finished += 1;
        }
    }
    let known: std::collections::HashSet<_> =
        contracts.iter().map(|(o, i, _)| (o.clone(), *i)).collect();
    if let Some(docs) = &state.local_documents {
        for (org, id) in docs.all_blobs().await? {
            if !known.contains(&(org.clone(), id)) {
                let scope = TenantScope::for_operator(org, state.settings.region);
                state.documents.delete(&scope, id).await?;
                done.orphans_removed += 1;
            }
        }
        docs.remove_temp_files().await?;
    }
    if done != Reconciled::default() {
        tracing::warn!(
            deletes_finished = done.deletes_finished,
            orphans_removed = done.orphans_removed,
            "reconciled storage after an interrupted run"
        );
    }
    Ok(done)
}
