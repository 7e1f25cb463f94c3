//! The search index port: chunks of contract text, searchable only inside their org.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortError;
use crate::TenantScope;
use crate::domain::ContractId;

/// One chunk of a contract's extracted text, as indexed. `text` is contract text: it goes into the
/// index and nowhere else (never into logs or errors).
#[derive(Clone, PartialEq)]
pub struct ChunkDoc {
    /// Stable id: `{contractId}-{ordinal}` (letters, digits and `-` only, so AI Search accepts it).
    pub id: String,
    /// The contract it belongs to.
    pub contract: ContractId,
    /// Position of the chunk in the contract, from 0.
    pub ordinal: u32,
    /// First character (Unicode scalar value) of the chunk in the extracted text.
    pub start: u64,
    /// One past the last character.
    pub end: u64,
    /// Page of `start`, from 1.
    pub page_start: u32,
    /// Page of the last character, from 1.
    pub page_end: u32,
    /// The chunk's text.
    pub text: String,
    /// The chunk's embedding, when an embedding model is configured.
    pub vector: Option<Vec<f32>>,
}

impl std::fmt::Debug for ChunkDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkDoc")
            .field("id", &self.id)
            .field("contract", &self.contract)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("text", &"[redacted]")
            .field("vector", &self.vector.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

impl ChunkDoc {
    /// The id of chunk `ordinal` of `contract`.
    #[must_use]
    pub fn id_for(contract: ContractId, ordinal: u32) -> String {
        format!("{contract}-{ordinal}")
    }
}

/// What to look for. The org comes from the scope, never from here.
#[derive(Clone, PartialEq)]
pub struct SearchQuery {
    /// The user's words (non-empty after trimming).
    pub text: String,
    /// Only this contract's chunks.
    pub contract: Option<ContractId>,
    /// Results per page (1 to 50).
    pub top: usize,
    /// Results to skip (paging).
    pub skip: usize,
    /// The query's embedding, for hybrid ranking.
    pub vector: Option<Vec<f32>>,
}

impl std::fmt::Debug for SearchQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchQuery")
            .field("text", &"[redacted]")
            .field("contract", &self.contract)
            .field("top", &self.top)
            .field("skip", &self.skip)
            .finish_non_exhaustive()
    }
}

/// How results were ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// BM25 over words only (no embedding model configured, or no vectors stored).
    Keyword,
    /// BM25 and vector similarity fused by reciprocal rank.
    Hybrid,
}

/// One matching chunk.
#[derive(Clone, PartialEq)]
pub struct SearchHit {
    /// The chunk id.
    pub chunk_id: String,
    /// Its contract.
    pub contract: ContractId,
    /// First character in the extracted text.
    pub start: u64,
    /// One past the last character.
    pub end: u64,
    /// Page of `start`.
    pub page_start: u32,
    /// Page of the last character.
    pub page_end: u32,
    /// Relevance (higher is better; comparable within one answer only).
    pub score: f64,
    /// The chunk's text, for the snippet (contract text: never logged).
    pub text: String,
}

impl std::fmt::Debug for SearchHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchHit")
            .field("chunk_id", &self.chunk_id)
            .field("contract", &self.contract)
            .field("score", &self.score)
            .finish_non_exhaustive()
    }
}

/// One page of results, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchPage {
    /// The hits on this page.
    pub hits: Vec<SearchHit>,
    /// Whether more results follow (`skip + top` onwards).
    pub more: bool,
    /// How they were ranked.
    pub mode: SearchMode,
}

/// A tenant-scoped chunk index: the local one (tantivy) or Azure AI Search.
///
/// Every read and write is confined to the scope's org by the adapter (a mandatory filter on the
/// org, ANDed with anything else); nothing a caller passes can widen it.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// Creates the index (schema) when missing; idempotent. Called at start-up.
    async fn ensure_ready(&self) -> Result<(), PortError>;
    /// Makes `chunks` the contract's only chunks: earlier ones with other ids are removed, so a
    /// redelivered or re-extracted contract never leaves two sets. Retrying after a failure is safe.
    async fn replace_contract(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        chunks: Vec<ChunkDoc>,
    ) -> Result<(), PortError>;
    /// Removes every chunk of the contract. Idempotent.
    async fn delete_contract(
        &self,
        scope: &TenantScope,
        contract: ContractId,
    ) -> Result<(), PortError>;
    /// Searches the scope's org.
    async fn search(
        &self,
        scope: &TenantScope,
        query: &SearchQuery,
    ) -> Result<SearchPage, PortError>;
    /// How many chunks the contract has in the index (tests, diagnostics).
    async fn count(&self, scope: &TenantScope, contract: ContractId) -> Result<u64, PortError>;
}
