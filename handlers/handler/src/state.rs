//! What every handler can reach: settings, the token validator, and the backend's ports.

use std::sync::Arc;

use bytes::Bytes;
use clment_common::auth::jwt::TokenValidator;
use clment_common::ports::{
    ApiKeyStore, AuditLog, ContractStore, DocumentStore, Embedder, Extractor, HealthCheck, JobSink,
    OrgStore, ReviewStore, SearchIndex, TextStore,
};

use crate::config::Settings;

/// Shared application state. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The state's contents.
pub struct Inner {
    /// Validated settings.
    pub settings: Settings,
    /// Access-token verification.
    pub tokens: TokenValidator,
    /// Operator-token verification (same issuer and keys, the operator audience).
    pub operator_tokens: TokenValidator,
    /// Where background work is handed (durable).
    pub jobs: Arc<dyn JobSink>,
    /// Org records.
    pub orgs: Arc<dyn OrgStore>,
    /// API keys.
    pub keys: Arc<dyn ApiKeyStore>,
    /// The audit trail.
    pub audit: Arc<dyn AuditLog>,
    /// The trail's 90-day second copy, written by the digest timer (Azure only).
    pub audit_archive: Option<Arc<dyn clment_common::ports::AuditArchive>>,
    /// Contract metadata.
    pub contracts: Arc<dyn ContractStore>,
    /// Contract originals (encrypted at rest).
    pub documents: Arc<dyn DocumentStore>,
    /// The search index (chunks of extracted text).
    pub index: Arc<dyn SearchIndex>,
    /// Extracted text, encrypted like the contract.
    pub texts: Arc<dyn TextStore>,
    /// Text extraction (worker processes).
    pub extractor: Arc<dyn Extractor>,
    /// Stored reviews.
    pub reviews: Arc<dyn ReviewStore>,
    /// The review provider (`offline` or `foundry`).
    pub reviewer: Arc<dyn clment_common::review::ReviewProvider>,
    /// The embedding deployment, when configured.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// The local job queue the indexing workers consume (`None` on Azure).
    pub queue: Option<Arc<dyn clment_common::ports::JobQueue>>,
    /// Wakes the local indexing workers when a job was queued.
    pub work_ready: Arc<tokio::sync::Notify>,
    /// The local store, when that is the backend (diagnostics, reconciler, tests).
    pub local: Option<clment_local::LocalStore>,
    /// The local document store, when that is the backend (reconciler).
    pub local_documents: Option<Arc<clment_local::LocalDocuments>>,
    /// Readiness checks, one per backend component.
    pub health: Vec<Arc<dyn HealthCheck>>,
    /// The OpenAPI document, rendered once at start-up.
    pub openapi: Bytes,
    /// Per-tenant rate limits.
    pub limiter: clment_common::ratelimit::RateLimiter,
    /// Signs each org's audit chain head (digests).
    pub digest_signer: Arc<clment_common::audit::DigestSigner>,
    /// Verifies digests: the signing key plus retired keys.
    pub digest_keys: clment_common::audit::DigestVerifier,
    /// `local` or `azure`.
    pub backend_name: &'static str,
}

impl AppState {
    /// Wraps the parts.
    #[must_use]
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
