//! The review port: one trait, one adapter per provider (`offline` here in the common crate,
//! `foundry` in `clment-azure`). A provider gets the document, the categories asked for and the
//! passages selected for it; it answers with raw findings whose quotes are checked against the text
//! afterwards ([`super::assemble`]), so nothing a provider says about positions is trusted.

use async_trait::async_trait;

use super::categories::Category;
use super::context::Selection;
use super::ephemeral::EphemeralText;
use super::model::{Risk, TokenUsage};
use crate::domain::ContractId;
use crate::ports::Extracted;
use crate::text::chunk::{ChunkParams, ChunkSpan, chunk};

/// How the review cuts a contract into chunks: as the search index does, so that a vector search's
/// hits and the context selection's first stage see the same pieces (what is sent is finer:
/// sentences, see [`super::context`]).
pub const PASSAGES: ChunkParams = ChunkParams {
    min: 1_000,
    max: 1_500,
    overlap: 150,
};

/// A contract's text for one review, with its pages, its review passages ([`PASSAGES`]) and the
/// search index's chunks (for the chunk ids of excerpts). The text is [`EphemeralText`]: zeroed when
/// the review is done with it.
pub struct ReviewDocument {
    contract: ContractId,
    text: EphemeralText,
    pages: Vec<u64>,
    chunks: Vec<ChunkSpan>,
    index_chunks: Vec<ChunkSpan>,
}

impl std::fmt::Debug for ReviewDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewDocument")
            .field("contract", &self.contract)
            .field("text", &self.text)
            .field("pages", &self.pages.len())
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl ReviewDocument {
    /// Takes the extracted text (moved, not copied) and cuts it into passages and the index's chunks.
    #[must_use]
    pub fn new(contract: ContractId, extracted: Extracted) -> Self {
        let chunks = chunk(&extracted, PASSAGES);
        let index_chunks = if PASSAGES == ChunkParams::default() {
            chunks.clone()
        } else {
            chunk(&extracted, ChunkParams::default())
        };
        let Extracted { text, pages } = extracted;
        Self {
            contract,
            text: EphemeralText::new(text),
            pages,
            chunks,
            index_chunks,
        }
    }

    /// The contract.
    #[must_use]
    pub fn contract(&self) -> ContractId {
        self.contract
    }

    /// The whole text.
    #[must_use]
    pub fn text(&self) -> &EphemeralText {
        &self.text
    }

    /// The review chunks, in document order (`chunks()[i].ordinal == i`): what context selection
    /// ranks first (the sentences it sends lie in them).
    #[must_use]
    pub fn chunks(&self) -> &[ChunkSpan] {
        &self.chunks
    }

    /// The text of chunk `ordinal`.
    #[must_use]
    pub fn passage(&self, ordinal: u32) -> Option<&str> {
        let c = self.chunks.get(ordinal as usize)?;
        self.text.expose_to_provider().get(c.start_byte..c.end_byte)
    }

    /// The page (from 1) holding character `offset`.
    #[must_use]
    pub fn page_of(&self, offset: u64) -> u32 {
        let idx = self.pages.partition_point(|&p| p <= offset);
        u32::try_from(idx.max(1)).unwrap_or(u32::MAX)
    }

    /// The review chunk holding character `offset` (the first, where chunks overlap).
    #[must_use]
    pub fn chunk_of(&self, offset: u64) -> u32 {
        Self::holding(&self.chunks, offset)
    }

    /// The search index's chunk holding character `offset`: excerpts cite it.
    #[must_use]
    pub fn index_chunk_of(&self, offset: u64) -> u32 {
        Self::holding(&self.index_chunks, offset)
    }

    fn holding(spans: &[ChunkSpan], offset: u64) -> u32 {
        let idx = spans.partition_point(|c| c.end <= offset);
        u32::try_from(idx.min(spans.len().saturating_sub(1))).unwrap_or(0)
    }
}

/// What a provider is asked.
#[derive(Debug)]
pub struct ProviderRequest<'a> {
    /// The contract.
    pub document: &'a ReviewDocument,
    /// The categories asked for, in taxonomy order.
    pub categories: &'a [&'static Category],
    /// The passages a remote provider may see (a local one may read the whole document).
    pub selection: &'a Selection,
}

/// A quote as a provider gave it: to be found in the text, or dropped.
#[derive(Debug)]
pub struct RawQuote {
    /// The quoted text.
    pub text: EphemeralText,
    /// The passage (chunk ordinal) it was taken from, if the provider said.
    pub chunk: Option<u32>,
    /// Where the provider found it (character offset), for in-process providers that know.
    pub start_hint: Option<u64>,
}

/// What a provider found for one category, before verification.
#[derive(Debug)]
pub struct RawFinding {
    /// The category.
    pub category: &'static Category,
    /// Whether the provider says the clause is there.
    pub present: bool,
    /// Its quotes.
    pub quotes: Vec<RawQuote>,
    /// Its answer as written (`May 8, 2014`, `New York`, `successive one-year terms`), to normalise.
    pub answer: Option<EphemeralText>,
    /// Its risk flag.
    pub risk: Option<Risk>,
}

/// A provider's answer.
#[derive(Debug, Default)]
pub struct ProviderAnswer {
    /// Findings, at most one per category (later duplicates are ignored).
    pub findings: Vec<RawFinding>,
    /// A short summary, if the provider writes one.
    pub summary: Option<String>,
    /// The model deployment that answered.
    pub model: Option<String>,
    /// Token counts.
    pub usage: TokenUsage,
}

/// Why a provider gave no answer. Never carries contract text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// No answer within the time limit (retries included).
    #[error("the model did not answer in time")]
    Timeout,
    /// Still throttled after the retries.
    #[error("the model is rate limited")]
    RateLimited,
    /// The service failed or could not be reached.
    #[error("the model service is unavailable: {0}")]
    Unavailable(String),
    /// The service refused the request (content filter, bad request).
    #[error("the model refused the request: {0}")]
    Refused(String),
    /// The answer did not follow the schema.
    #[error("the model's answer was invalid: {0}")]
    InvalidAnswer(String),
}

impl ProviderError {
    /// The review's failure code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::Unavailable(_) => "provider_unavailable",
            Self::Refused(_) => "provider_refused",
            Self::InvalidAnswer(_) => "invalid_answer",
        }
    }
}

/// A review provider.
#[async_trait]
pub trait ReviewProvider: Send + Sync {
    /// `offline` or `foundry`.
    fn name(&self) -> &'static str;
    /// Whether contract text leaves the process (then only the selected passages are sent).
    fn remote(&self) -> bool;
    /// Reviews the document.
    async fn review(&self, request: &ProviderRequest<'_>) -> Result<ProviderAnswer, ProviderError>;
}
