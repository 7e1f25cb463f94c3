//! `run-job`: the queue trigger on the jobs queue (`clment-jobs`). Producers (the review route) send a
//! [`Job`] as JSON; the host base64-decodes the message and hands it over as `Data.job`. Reviews run
//! here on Azure (locally the in-process queue's workers run them).
//!
//! Retries are the host's: an answer other than 2xx makes it retry the message after the
//! visibility timeout (host.json `extensions.queues`), up to `maxDequeueCount`, then poison it. So a
//! job that cannot run yet (a contract still being indexed, a store unavailable) answers 500 until
//! its last delivery ([`MAX_DEQUEUE`]), where it is given up instead (its review ends `failed`) and
//! acknowledged: nothing is left `queued` for ever behind a poisoned message.

use clment_common::ports::Job;
use serde_json::Value;

use super::invocation::{InvocationRequest, InvocationResponse, invalid, unwrap_double_encoded};
use crate::http::reply::ApiError;
use crate::indexing;
use crate::reviewing::{self, Reviewed};
use crate::state::AppState;

/// The binding name in `functions/run-job/function.json`.
pub const BINDING: &str = "job";

/// host.json `extensions.queues.maxDequeueCount`: the last delivery gives the job up.
pub const MAX_DEQUEUE: u64 = 10;

/// Reads the job from the invocation.
///
/// # Errors
/// 400 `invalid_invocation` when `Data.job` is not a job.
pub fn parse(req: &InvocationRequest) -> Result<Job, ApiError> {
    let raw = req
        .data
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(BINDING))
        .map(|(_, v)| v)
        .ok_or_else(|| invalid(format!("Data.{BINDING} is missing.")))?;
    // A string item arrives JSON-encoded (once or twice); an object is taken as it is.
    let value = match unwrap_double_encoded(raw) {
        Value::String(s) => serde_json::from_str(&s)
            .map_err(|_| invalid(format!("Data.{BINDING} is not a JSON job.")))?,
        v => v,
    };
    serde_json::from_value(value)
        .map_err(|_| invalid(format!("Data.{BINDING} is not a job this bundle runs.")))
}

/// Runs the trigger.
///
/// # Errors
/// 400 for a bad payload; 500 when the job must be retried (the host redelivers).
pub async fn run(
    state: &AppState,
    req: &InvocationRequest,
) -> Result<InvocationResponse, ApiError> {
    let job = parse(req)?;
    let delivery = req.meta_u64("DequeueCount").unwrap_or(1);
    let log = match &job {
        Job::RunReview {
            org,
            contract,
            review,
        } => {
            tracing::Span::current().record("org", org.as_str());
            let outcome = match reviewing::run_review(state, org, *contract, *review).await {
                Err(e) if delivery >= MAX_DEQUEUE => {
                    tracing::error!(review = %review, delivery, error = %e, "review given up");
                    reviewing::give_up(
                        state,
                        org,
                        *contract,
                        *review,
                        u32::try_from(delivery).unwrap_or(u32::MAX),
                    )
                    .await
                    .map_err(|e| ApiError::internal(&e))?
                }
                other => other.map_err(|e| ApiError::internal(&e))?,
            };
            match outcome {
                Reviewed::Completed => format!("review {review} completed"),
                Reviewed::Failed(code) => format!("review {review} failed: {code}"),
                Reviewed::Skipped(why) => format!("review {review} skipped: {why}"),
            }
        }
        Job::IndexContract { org, contract, .. } => {
            tracing::Span::current().record("org", org.as_str());
            let outcome = match indexing::index_contract(state, org, *contract, None).await {
                Err(e) if delivery >= MAX_DEQUEUE => {
                    tracing::error!(contract = %contract, delivery, error = %e, "indexing given up");
                    indexing::give_up(
                        state,
                        org,
                        *contract,
                        u32::try_from(delivery).unwrap_or(u32::MAX),
                    )
                    .await
                    .map_err(|e| ApiError::internal(&e))?
                }
                other => other.map_err(|e| ApiError::internal(&e))?,
            };
            outcome.describe(*contract)
        }
    };
    Ok(InvocationResponse {
        logs: vec![log],
        ..InvocationResponse::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(item: Value) -> InvocationRequest {
        serde_json::from_value(
            json!({ "Data": { "job": item }, "Metadata": { "DequeueCount": "1" } }),
        )
        .unwrap()
    }

    #[test]
    fn jobs_parse_from_strings_double_encoded_strings_and_objects() {
        let job = json!({
            "kind": "run-review",
            "org": "acme",
            "contract": "0190f0a0-0000-7000-8000-000000000000",
            "review": "0190f0a0-0000-7000-8000-0000000000ee"
        });
        let once = Value::String(job.to_string());
        let twice = Value::String(serde_json::to_string(&job.to_string()).unwrap());
        for item in [job.clone(), once, twice] {
            assert!(matches!(parse(&req(item)).unwrap(), Job::RunReview { .. }));
        }
        assert!(parse(&req(json!("not json"))).is_err());
        assert!(parse(&req(json!({ "kind": "format-disk" }))).is_err());
        let empty: InvocationRequest = serde_json::from_value(json!({ "Data": {} })).unwrap();
        assert!(parse(&empty).is_err());
    }
}
