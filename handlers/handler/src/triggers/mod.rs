//! Non-HTTP triggers. The Functions host sends `POST /{FunctionName}` with the invocation JSON
//! (`{"Data": {...}, "Metadata": {...}}`) and expects a 2xx `application/json` answer
//! `{"Outputs": {}, "Logs": [], "ReturnValue": null}`; any other status makes it retry and finally
//! poison the message.

pub mod audit_digest;
mod index_contract;
pub mod invocation;
pub mod reconcile;
pub mod run_job;

use http::HeaderMap;
use warp::reply::Response;

use crate::http::body::{BodyStream, read_json};
use crate::http::reply::ApiError;
use crate::state::AppState;
use invocation::{InvocationRequest, InvocationResponse};

/// Which binding type fires the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerKind {
    /// `blobTrigger`.
    Blob,
    /// `timerTrigger`.
    Timer,
    /// `queueTrigger`.
    Queue,
}

/// A row of the trigger table. The name is the function's folder under `functions/`.
#[derive(Clone, Copy, Debug)]
pub struct TriggerSpec {
    /// The function name (case-sensitive, as the host sends it).
    pub name: &'static str,
    /// The trigger binding type.
    pub kind: TriggerKind,
}

/// Every non-HTTP function.
pub static TRIGGERS: &[TriggerSpec] = &[
    TriggerSpec {
        name: "index-contract",
        kind: TriggerKind::Blob,
    },
    TriggerSpec {
        name: "run-job",
        kind: TriggerKind::Queue,
    },
    TriggerSpec {
        name: "audit-digest",
        kind: TriggerKind::Timer,
    },
    TriggerSpec {
        name: "reconcile",
        kind: TriggerKind::Timer,
    },
];

/// The trigger named `name`.
#[must_use]
pub fn find(name: &str) -> Option<&'static TriggerSpec> {
    TRIGGERS.iter().find(|t| t.name == name)
}

/// Parses the invocation and runs the function.
///
/// # Errors
/// 4xx for a malformed payload (the host will poison it after its retries), 5xx when the work
/// failed and should be retried.
pub async fn invoke(
    state: &AppState,
    spec: &TriggerSpec,
    headers: &HeaderMap,
    body: BodyStream,
) -> Result<Response, ApiError> {
    let req: InvocationRequest =
        read_json(headers, body, state.settings.max_invocation_bytes).await?;
    let out: InvocationResponse = match spec.name {
        "index-contract" => index_contract::run(state, &req).await?,
        "audit-digest" => audit_digest::run(state, &req).await?,
        "reconcile" => reconcile::run(state, &req).await?,
        "run-job" => run_job::run(state, &req).await?,
        other => {
            return Err(ApiError::internal(&format!(
                "trigger {other} has no runner"
            )));
        }
    };
    Ok(out.into_response())
}
