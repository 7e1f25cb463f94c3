//! The Azure backend: adapters from the common ports to Blob Storage ([`blob`]) and Cosmos DB
//! ([`cosmos`]). SDK types never leave this crate: errors become `PortError`s at the boundary.

pub mod blob;
pub mod cosmos;
