//! Stored reviews. A review's result holds verified excerpts of the contract, so adapters keep it
//! as protected as the contract itself (sealed under the org's data key locally; Cosmos DB's
//! encryption at rest on Azure).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::PortError;
use crate::TenantScope;
use crate::domain::{ContractId, ReviewId};
use crate::review::ReviewRecord;

/// What [`ReviewStore::create`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum ReviewCreated {
    /// The review was stored.
    New,
    /// An earlier review of the org has the record's idempotency key: nothing was stored, and this is
    /// that review as it is now.
    Existing(Box<ReviewRecord>),
}

/// Reviews, per org and contract.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Stores a new review, unless its idempotency key already names a review of the org (then that
    /// review comes back). [`PortError::Conflict`] when the id exists. Deleting a review frees its key.
    async fn create(
        &self,
        scope: &TenantScope,
        record: &ReviewRecord,
    ) -> Result<ReviewCreated, PortError>;
    /// One review of `contract`.
    async fn get(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        id: ReviewId,
    ) -> Result<Option<ReviewRecord>, PortError>;
    /// The contract's reviews, newest first, after `after` (exclusive), at most `limit`.
    async fn list(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        limit: usize,
        after: Option<ReviewId>,
    ) -> Result<Vec<ReviewRecord>, PortError>;
    /// Replaces a review if it still has `expected_updated_at` ([`PortError::Conflict`] if not,
    /// [`PortError::NotFound`] if it is gone). The record keeps the review's idempotency key or drops
    /// it (`None`), which frees the key; any other key is a [`PortError::Conflict`].
    async fn replace(
        &self,
        scope: &TenantScope,
        record: &ReviewRecord,
        expected_updated_at: OffsetDateTime,
    ) -> Result<(), PortError>;
    /// Removes one review. `false` when it was not there.
    async fn delete(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        id: ReviewId,
    ) -> Result<bool, PortError>;
    /// Removes every review of `contract` (the contract's purge). Returns how many.
    async fn delete_for_contract(
        &self,
        scope: &TenantScope,
        contract: ContractId,
    ) -> Result<u64, PortError>;
    /// The org's review counts and the tokens its completed reviews used (counts only).
    async fn usage(&self, scope: &TenantScope) -> Result<super::ReviewUsage, PortError>;
}
