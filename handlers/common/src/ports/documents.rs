use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use time::OffsetDateTime;

use super::PortError;
use crate::TenantScope;
use crate::domain::{ContractId, OrgId};

/// A contract's bytes as they are read back. `Sync` so web frameworks can hold it.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + Sync>>;

/// A stored original, as the reconciler's sweep sees it (names only, never contents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    /// The org whose original it is.
    pub org: OrgId,
    /// The contract.
    pub id: ContractId,
    /// When the original was last written (committed).
    pub last_modified: OffsetDateTime,
}

/// One page of [`DocumentStore::sweep`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepPage {
    /// The originals on this page (at most the requested limit; possibly none while more follow).
    pub blobs: Vec<StoredBlob>,
    /// Where the next page starts (opaque); `None` when the listing is complete.
    pub next: Option<String>,
}

/// Contract originals (`{orgId}/{contractId}/original`): encrypted at rest by the backend.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Starts storing a contract's original. Nothing is visible until [`DocumentWriter::commit`].
    async fn begin(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Box<dyn DocumentWriter>, PortError>;
    /// The original's bytes, or `None` when there is none.
    async fn open(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Option<ByteStream>, PortError>;
    /// Removes the original. `false` when there was none (deletes are idempotent).
    async fn delete(&self, scope: &TenantScope, id: ContractId) -> Result<bool, PortError>;
    /// Every stored original of every org, a page at a time: pass the previous page's `next` as
    /// `after` (`None` to start). Not a tenant operation: for the reconciler only. Names that are not
    /// a well-formed original of an org are skipped (and logged, by name only). Originals written
    /// while a sweep runs may or may not appear in it.
    async fn sweep(&self, after: Option<String>, limit: usize) -> Result<SweepPage, PortError>;
}

/// An original being written.
#[async_trait]
pub trait DocumentWriter: Send {
    /// Appends bytes.
    async fn write(&mut self, chunk: &[u8]) -> Result<(), PortError>;
    /// Makes the original visible, only if none exists yet (conditional create). Returns its size.
    async fn commit(self: Box<Self>) -> Result<u64, PortError>;
    /// Discards everything written.
    async fn abort(self: Box<Self>);
}
