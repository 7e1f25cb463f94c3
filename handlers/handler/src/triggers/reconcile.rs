//! `reconcile`: the timer (every 15 minutes) that finishes interrupted deletes and removes orphan blobs
//! (see [`crate::reconcile`]). Locally a background task calls [`run_now`] on the same interval.

use super::invocation::{InvocationRequest, InvocationResponse};
use crate::http::reply::ApiError;
use crate::reconcile::{ReconcileError, Reconciled, reconcile};
use crate::state::AppState;

/// Runs the reconciler with the configured grace (`CLMENT_RECONCILE_GRACE_SECS`); errors are logged
/// (the next run retries) and give `None`.
pub async fn run_now(state: &AppState) -> Option<Reconciled> {
    match reconcile(state, state.settings.reconcile_grace).await {
        Ok(done) => Some(done),
        Err(ReconcileError::Incomplete { done, failed }) => {
            tracing::error!(
                failed,
                deletes_finished = done.deletes_finished,
                orphans_removed = done.orphans_removed,
                "reconciler run incomplete; the next run retries"
            );
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "reconciler run failed; the next run retries");
            None
        }
    }
}

/// Runs the timer invocation (its payload carries only schedule status, which is not needed).
///
/// # Errors
/// 500 when a store failed, so the failure shows in the host's invocation log.
pub async fn run(
    state: &AppState,
    _req: &InvocationRequest,
) -> Result<InvocationResponse, ApiError> {
    let done = run_now(state)
        .await
        .ok_or_else(|| ApiError::internal(&"reconciler run failed"))?;
    Ok(InvocationResponse {
        logs: vec![format!(
            "finished {} interrupted deletes, removed {} orphan blobs",
            done.deletes_finished, done.orphans_removed
        )],
        ..InvocationResponse::default()
    })
}
