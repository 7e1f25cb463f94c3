//! `audit-digest`: the hourly timer that signs each org's audit chain head (the CloudTrail-style
//! digest) and, on Azure, copies new events into the 90-day audit archive. Locally a background task calls [`sign_now`] on `CLMENT_AUDIT_DIGEST_INTERVAL_SECS`.

use super::invocation::{InvocationRequest, InvocationResponse};
use crate::http::reply::ApiError;
use crate::state::AppState;

/// Signs every org whose trail grew since its last digest; errors are logged, not raised (the next
/// run catches up).
pub async fn sign_now(state: &AppState) -> Option<usize> {
    match clment_common::audit::sign_heads(
        &*state.audit,
        &state.digest_signer,
        state.settings.region,
        time::OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(n) => {
            if n > 0 {
                tracing::info!(signed = n, key_id = %state.digest_signer.key_id(), "audit digests signed");
            }
            Some(n)
        }
        Err(e) => {
            tracing::error!(error = %e, "audit digest signing failed; the next run retries");
            None
        }
    }
}

/// Most events archived per org and run: the hourly timer catches a long trail up over a few runs.
pub const ARCHIVE_PER_RUN: usize = 20_000;

/// Copies new audit events into the archive, when there is one (Azure); `None` when it failed
/// (logged; the next run continues where the archive ends).
pub async fn archive_now(state: &AppState) -> Option<usize> {
    let archive = state.audit_archive.as_ref()?;
    match clment_common::audit::archive_trails(
        &*state.audit,
        &**archive,
        state.settings.region,
        time::OffsetDateTime::now_utc(),
        ARCHIVE_PER_RUN,
    )
    .await
    {
        Ok(n) => {
            if n > 0 {
                tracing::info!(events = n, "audit events archived");
            }
            Some(n)
        }
        Err(e) => {
            tracing::error!(error = %e, "audit archive failed; the next run continues");
            None
        }
    }
}

/// Runs the timer invocation (its payload carries only schedule status, which is not needed).
///
/// # Errors
/// 500 when the store failed, so the failure shows in the host's invocation log.
pub async fn run(
    state: &AppState,
    _req: &InvocationRequest,
) -> Result<InvocationResponse, ApiError> {
    let signed = sign_now(state)
        .await
        .ok_or_else(|| ApiError::internal(&"audit digest signing failed"))?;
    let mut logs = vec![format!("signed {signed} audit digests")];
    if state.audit_archive.is_some() {
        let archived = archive_now(state)
            .await
            .ok_or_else(|| ApiError::internal(&"audit archive failed"))?;
        logs.push(format!("archived {archived} audit events"));
    }
    Ok(InvocationResponse {
        logs,
        ..InvocationResponse::default()
    })
}
