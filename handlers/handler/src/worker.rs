//! The local backend's background workers: they lease jobs from the durable in-process queue and run
//! them: indexing and reviews (on Azure the blob trigger indexes and the `run-job` queue trigger
//! runs reviews instead). A job whose worker dies is leased again
//! when its lease expires; a deferred job is retried with exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use clment_common::ports::{Job, JobQueue, LeasedJob};

use crate::indexing::{self, Indexed};
use crate::reviewing::{self, Reviewed};
use crate::state::AppState;

/// How often idle workers look for work they were not woken for (jobs whose backoff ran out).
const POLL: Duration = Duration::from_millis(500);

/// Attempts after which a deferred job is given up: the contract ends `failed` with `unavailable`
/// (about an hour and a half of backoff).
pub const MAX_ATTEMPTS: u32 = 12;

/// The retry delay after `attempt` failed attempts: 2 s, 4 s, ... capped at 5 minutes.
#[must_use]
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempt.min(9))).min(Duration::from_secs(300))
}

/// Starts `n` workers on `queue`; they run until aborted.
pub fn spawn(
    state: &AppState,
    queue: Arc<dyn JobQueue>,
    n: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n.max(1))
        .map(|_| {
            let state = state.clone();
            let queue = queue.clone();
            tokio::spawn(async move { run(state, queue).await })
        })
        .collect()
}

async fn run(state: AppState, queue: Arc<dyn JobQueue>) {
    // Long enough for the slowest extraction or model call plus the writes around it.
    let review_limit = match &state.settings.review {
        crate::config::ReviewSettings::Offline => Duration::ZERO,
        crate::config::ReviewSettings::Foundry { timeout, .. } => *timeout,
    };
    let lease =
        (state.settings.indexing.extract_timeout * 2).max(review_limit) + Duration::from_secs(60);
    loop {
        match queue.lease(lease).await {
            Ok(Some(job)) => handle(&state, queue.as_ref(), job).await,
            Ok(None) => {
                let _ = tokio::time::timeout(POLL, state.work_ready.notified()).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "job queue unavailable");
                tokio::time::sleep(POLL * 4).await;
            }
        }
    }
}

/// What running a job came to.
enum Ran {
    /// Finished (done, failed for good, or nothing to do): remove the job.
    Finished,
    /// Could not run now: retry later.
    Deferred(String),
}

async fn run_job(state: &AppState, job: &Job) -> Ran {
    match job {
        Job::IndexContract { org, contract, .. } => {
            match indexing::index_contract(state, org, *contract, None).await {
                Ok(Indexed::Skipped(why)) => {
                    tracing::info!(contract = %contract, why, "indexing skipped");
                    Ran::Finished
                }
                Ok(_) => Ran::Finished,
                Err(e) => Ran::Deferred(e.0),
            }
        }
        Job::RunReview {
            org,
            contract,
            review,
        } => match reviewing::run_review(state, org, *contract, *review).await {
            Ok(Reviewed::Skipped(why)) => {
                tracing::info!(review = %review, why, "review skipped");
                Ran::Finished
            }
            Ok(_) => Ran::Finished,
            Err(e) => Ran::Deferred(e.0),
        },
    }
}

/// Gives a job up after [`MAX_ATTEMPTS`]: its contract or review ends `failed`.
async fn give_up(state: &AppState, job: &Job, attempts: u32) -> Result<(), indexing::Deferred> {
    match job {
        Job::IndexContract { org, contract, .. } => {
            indexing::give_up(state, org, *contract, attempts).await?;
        }
        Job::RunReview {
            org,
            contract,
            review,
        } => {
            reviewing::give_up(state, org, *contract, *review, attempts).await?;
        }
    }
    Ok(())
}

async fn handle(state: &AppState, queue: &dyn JobQueue, leased: LeasedJob) {
    let done = match run_job(state, &leased.job).await {
        Ran::Finished => true,
        Ran::Deferred(why) if leased.attempt >= MAX_ATTEMPTS => {
            tracing::error!(
                job = leased.id,
                attempt = leased.attempt,
                why,
                "job given up"
            );
            match give_up(state, &leased.job, leased.attempt).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(job = leased.id, error = %e, "could not mark the job's subject failed");
                    let _ = queue.retry_later(leased.id, backoff(leased.attempt)).await;
                    false
                }
            }
        }
        Ran::Deferred(why) => {
            let delay = backoff(leased.attempt);
            tracing::warn!(
                job = leased.id,
                attempt = leased.attempt,
                delay_secs = delay.as_secs(),
                why,
                "job deferred"
            );
            if let Err(e) = queue.retry_later(leased.id, delay).await {
                tracing::error!(job = leased.id, error = %e, "could not defer a job; its lease will expire");
            }
            false
        }
    };
    if done && let Err(e) = queue.complete(leased.id).await {
        tracing::error!(job = leased.id, error = %e, "could not complete a job; it will run again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(2), Duration::from_secs(4));
        assert_eq!(backoff(8), Duration::from_secs(256));
        assert_eq!(backoff(9), Duration::from_secs(300));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }
}
