//! The Azure backend: adapters from the common ports to Blob Storage ([`blob`]), Cosmos DB ([`cosmos`]
//! for contract metadata, [`tenants`] for org records and API keys) and Queue Storage ([`queue`], the
//! job sink), and [`connect`], which builds all of them from configuration. SDK types never leave this
//! crate's adapters: errors become `PortError`s at the boundary.

/// The audit trail in Cosmos DB (events, head hints, signed digests).
pub mod audit;
pub mod blob;
pub mod connect;
pub mod cosmos;
pub mod embed;
pub mod queue;
/// The chunk index on Azure AI Search (REST).
pub mod search;
pub mod tenants;
pub mod texts;
