//! The Azure backend: adapters from the common ports to Blob Storage ([`blob`]), Cosmos DB ([`cosmos`]
//! for contract metadata, [`tenants`] for org records and API keys, [`reviews`] for stored reviews)
//! and Queue Storage ([`queue`], the job sink), the Azure OpenAI clients ([`embed`] for embeddings,
//! [`foundry`] for the review provider), and [`connect`], which builds the storage adapters from
//! configuration. SDK types never leave this crate's adapters: errors become `PortError`s (or
//! `ProviderError`s) at the boundary.

/// Shared by the Azure OpenAI adapters: sign-in, routes and the retrying transport.
mod aoai;
/// The audit trail in Cosmos DB (events, head hints, signed digests).
pub mod audit;
/// The 90-day second copy of the audit trail (Blob Storage).
pub mod audit_archive;
pub mod blob;
pub mod connect;
pub mod cosmos;
pub mod embed;
pub mod foundry;
pub mod queue;
pub mod reviews;
/// The chunk index on Azure AI Search (REST).
pub mod search;
pub mod tenants;
pub mod texts;

pub use foundry::{FoundryAuth, FoundryConfig, FoundryConfigError, FoundryProvider};
pub use reviews::CosmosReviews;
