use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{ContractId, OrgId, ReviewId};

/// Background work. Jobs carry ids and sizes only, never contract text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Job {
    /// A contract's blob landed and must be indexed.
    IndexContract {
        /// The owning org, derived from the blob path.
        org: OrgId,
        /// The contract.
        contract: ContractId,
        /// Blob size in bytes, when the trigger reported it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    },
    /// A review was asked for.
    RunReview {
        /// The owning org.
        org: OrgId,
        /// The contract reviewed.
        contract: ContractId,
        /// The review.
        review: ReviewId,
    },
}

/// A job handed to one worker until its lease runs out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeasedJob {
    /// Queue-assigned id.
    pub id: u64,
    /// How many times it has been leased, this time included.
    pub attempt: u32,
    /// The work.
    pub job: Job,
}

/// The queue could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No job with this id is leased.
    #[error("job {0} is not leased")]
    NotLeased(u64),
    /// The store failed.
    #[error("job store failed: {0}")]
    Store(String),
}

/// Where producers hand background work: an acknowledged `enqueue` survives a crash. Locally the
/// in-process queue; on Azure a Storage Queue consumed by a queue-triggered function.
#[async_trait]
pub trait JobSink: Send + Sync {
    /// Stores a job durably and returns the queue's id for it.
    async fn enqueue(&self, job: Job) -> Result<String, JobError>;
}

/// The local in-process work queue, consumed by background workers: a leased job whose worker dies
/// is handed out again once its lease expires.
#[async_trait]
pub trait JobQueue: JobSink {
    /// Takes the oldest available job for `lease`.
    async fn lease(&self, lease: Duration) -> Result<Option<LeasedJob>, JobError>;
    /// Removes a finished job.
    async fn complete(&self, id: u64) -> Result<(), JobError>;
    /// Makes a leased job available again after `delay`.
    async fn retry_later(&self, id: u64, delay: Duration) -> Result<(), JobError>;
    /// Jobs stored (leased or not).
    async fn count(&self) -> Result<u64, JobError>;
}
