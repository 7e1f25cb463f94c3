//! The embedded backend: everything under one data directory, no network.
//!
//! - [`DataDir`]: the directory layout and its owner-only permissions.
//! - [`DevIssuer`]: the development token issuer (local mode only).
//! - [`LocalStore`]: the embedded transactional database (redb) and the adapters built on it.

mod data_dir;
mod dev_issuer;
mod store;
mod tenants;

pub use data_dir::{DataDir, DataDirError};
pub use dev_issuer::{DEV_ISSUER, DevIssuer, DevIssuerError, DevTokenRequest};
pub use store::{LocalStore, StoreError};
