//! Text extraction and the stored extracted text.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortError;
use crate::TenantScope;
use crate::content::ContentKind;
use crate::domain::ContractId;

/// A contract's extracted text with its page boundaries. Contract text: never logged, and its
/// `Debug` shows sizes only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// The text, pages separated by form feeds (`\u{c}`) in PDFs.
    pub text: String,
    /// The character offset (Unicode scalar values) where each page starts; `pages[0] == 0`.
    /// One entry for formats without pages.
    pub pages: Vec<u64>,
}

impl std::fmt::Debug for Extracted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extracted")
            .field("chars", &self.text.chars().count())
            .field("pages", &self.pages.len())
            .finish()
    }
}

impl Extracted {
    /// The page (from 1) that holds character `offset`.
    #[must_use]
    pub fn page_of(&self, offset: u64) -> u32 {
        let idx = self.pages.partition_point(|&p| p <= offset);
        u32::try_from(idx.max(1)).unwrap_or(u32::MAX)
    }
}

/// Why a document yielded no usable text. The codes are part of the API (`failure.code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtractFailureCode {
    /// Password-protected.
    Encrypted,
    /// No text layer (a scan; OCR is not offered).
    NoText,
    /// Over a limit: pages, inflated size, output characters, zip entries.
    TooLarge,
    /// Took longer than the wall-time or CPU limit.
    Timeout,
    /// Not a readable document of its kind (corrupt, truncated, hostile).
    Unreadable,
    /// Not a kind we extract.
    Unsupported,
}

impl ExtractFailureCode {
    /// The API's reason code.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Encrypted => "encrypted",
            Self::NoText => "no_text",
            Self::TooLarge => "too_large",
            Self::Timeout => "timeout",
            Self::Unreadable => "unreadable",
            Self::Unsupported => "unsupported",
        }
    }
}

/// Extraction failed. `Failed` is final for these bytes; `Unavailable` (no worker could be started)
/// is worth retrying.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The document is the problem. `detail` never holds document text.
    #[error("{}: {detail}", code.as_str())]
    Failed {
        /// Reason code.
        code: ExtractFailureCode,
        /// For people.
        detail: String,
    },
    /// The extractor could not run (spawn failed, out of workers); retry later.
    #[error("extractor unavailable: {0}")]
    Unavailable(String),
}

/// Turns document bytes into text. The production adapter runs each document in a separate,
/// resource-limited worker process.
#[async_trait]
pub trait Extractor: Send + Sync {
    /// Extracts the text of `bytes`, which are of `kind`.
    async fn extract(&self, kind: ContentKind, bytes: Vec<u8>) -> Result<Extracted, ExtractError>;
}

/// Where extracted text is kept for reviews and citations, encrypted like the contract.
#[async_trait]
pub trait TextStore: Send + Sync {
    /// Stores (or replaces) the contract's extracted text.
    async fn put_text(
        &self,
        scope: &TenantScope,
        id: ContractId,
        text: &Extracted,
    ) -> Result<(), PortError>;
    /// The contract's extracted text, if stored.
    async fn get_text(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Option<Extracted>, PortError>;
    /// Removes it. `false` when there was none.
    async fn delete_text(&self, scope: &TenantScope, id: ContractId) -> Result<bool, PortError>;
}

/// Turns texts into vectors (an embedding deployment).
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The vectors' length.
    fn dimensions(&self) -> usize;
    /// One vector per input, in order. Batching and backoff on throttling are the adapter's job.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, PortError>;
}
