//! Port traits: one per capability. Backends (`clment-local`, the Azure adapters) implement them;
//! every method that touches tenant data takes a [`crate::TenantScope`] first.

mod api_keys;
mod audit;
mod contracts;
mod documents;
mod extract;
mod health;
mod jobs;
mod orgs;
mod reviews;
mod search;
/// Port contract suites (test support).
#[cfg(feature = "test-support")]
pub mod suite;
mod usage;

pub use api_keys::{ApiKeyRecord, ApiKeyStore, StoredSecret};
pub use audit::{Actor, AuditArchive, AuditEvent, AuditLog, Client, Outcome, StoredEvent};
pub use contracts::{ContractRecord, ContractStatus, ContractStore, Created, Failure};
pub use documents::{ByteStream, DocumentStore, DocumentWriter, StoredBlob, SweepPage};
pub use extract::{Embedder, ExtractError, ExtractFailureCode, Extracted, Extractor, TextStore};
pub use health::{BackendHealth, HealthCheck, HealthStatus};
pub use jobs::{Job, JobError, JobQueue, JobSink, LeasedJob};
pub use orgs::{
    AiReviewPolicy, OrgRecord, OrgStore, Plan, SecuritySettings, SecurityUpdate, SignInMethod,
};
pub use reviews::{ReviewCreated, ReviewStore};
pub use search::{ChunkDoc, SearchHit, SearchIndex, SearchMode, SearchPage, SearchQuery};
pub use usage::{ContractUsage, ReviewUsage};

/// A port operation failed. Adapters map their SDK's errors into these kinds; no SDK type leaks out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The record does not exist in this tenant.
    #[error("not found")]
    NotFound,
    /// A concurrent change won, or the record already exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend failed or is unreachable; retrying may help.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
}
