use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::PortError;
use crate::TenantScope;
use crate::domain::{ContractId, OrgId, UserId};

/// Where a contract is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContractStatus {
    /// Stored; indexing not started.
    Pending,
    /// Being indexed.
    Indexing,
    /// Searchable.
    Indexed,
    /// Indexing failed (`failure` says why).
    Failed,
    /// Being deleted: invisible to reads, purged by the delete or the reconciler.
    Deleting,
}

/// Why indexing failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Stable reason code (`encrypted`, `no_text`, `too_large`, ...).
    pub code: String,
    /// What happened, for people.
    pub detail: String,
}

/// A contract's metadata. Never its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractRecord {
    /// Id (UUID v7: sorts by creation).
    pub id: ContractId,
    /// Owning org.
    pub org: OrgId,
    /// Title (defaults to the file name).
    pub title: String,
    /// Sanitised original file name.
    pub file_name: String,
    /// Media type decided from the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Status.
    pub status: ContractStatus,
    /// Set when `status` is `failed`.
    pub failure: Option<Failure>,
    /// Who uploaded it.
    pub created_by: UserId,
    /// Upload time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The upload's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
}

/// The outcome of [`ContractStore::create`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// Stored now.
    New(ContractRecord),
    /// An earlier upload with the same idempotency key: nothing stored now.
    Existing(ContractRecord),
}

/// Contract metadata.
#[async_trait]
pub trait ContractStore: Send + Sync {
    /// Stores a new record, unless its idempotency key already names one in this org.
    async fn create(
        &self,
        scope: &TenantScope,
        record: ContractRecord,
    ) -> Result<Created, PortError>;
    /// One record (including `deleting` ones; callers decide what to show).
    async fn get(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Option<ContractRecord>, PortError>;
    /// Records newest first, after `after` (exclusive), at most `limit`; `deleting` ones are skipped.
    async fn list(
        &self,
        scope: &TenantScope,
        limit: usize,
        after: Option<ContractId>,
    ) -> Result<Vec<ContractRecord>, PortError>;
    /// Replaces a record atomically if it still has `expected_updated_at` (optimistic concurrency).
    async fn replace(
        &self,
        scope: &TenantScope,
        record: ContractRecord,
        expected_updated_at: OffsetDateTime,
    ) -> Result<(), PortError>;
    /// Removes a record and its idempotency key. `false` when it was not there.
    async fn remove(&self, scope: &TenantScope, id: ContractId) -> Result<bool, PortError>;
    /// Up to `limit` records of any org in `deleting` status last updated before `older_than`
    /// (deletes a crash interrupted), in no particular order. Not a tenant operation: for the
    /// reconciler only, which finishes each one (so the next call returns others).
    async fn stale_deleting(
        &self,
        older_than: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(OrgId, ContractId)>, PortError>;
    /// The org's contract counts and bytes (`deleting` ones left out). The default pages through
    /// [`ContractStore::list`]; adapters may aggregate closer to the data.
    async fn usage(&self, scope: &TenantScope) -> Result<super::ContractUsage, PortError> {
        const PAGE: usize = 500;
        let mut usage = super::ContractUsage::default();
        let mut after = None;
        loop {
            let page = self.list(scope, PAGE, after).await?;
            for r in &page {
                usage.add_record(r);
            }
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(last.id),
                _ => return Ok(usage),
            }
        }
    }
}
