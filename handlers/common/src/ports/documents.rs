use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use super::PortError;
use crate::TenantScope;
use crate::domain::ContractId;

/// A contract's bytes as they are read back. `Sync` so web frameworks can hold it.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + Sync>>;

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
