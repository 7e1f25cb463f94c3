//! The embedded backend: everything under one data directory, no network.
//!
//! - [`DataDir`]: the directory layout and its owner-only permissions.
//! - [`DevIssuer`]: the development token issuer (local mode only).
//! - [`LocalStore`]: the embedded transactional database (redb) and the adapters built on it.
//! - [`LocalIndex`]: the search index (tantivy), holding only keyed hashes of words and sealed text.
//! - [`LocalTexts`]: the extracted texts, sealed like the originals.
//! - [`LocalReviews`]: reviews, each record sealed under the org's data key.

mod audit;
mod contracts;
mod crypto;
mod data_dir;
mod dev_issuer;
mod documents;
mod index;
mod reviews;
mod sealed;
mod store;
mod tenants;
mod texts;

pub use crypto::{CryptoError, DataKey, MASTER_KEY_SETTING, MasterKey, audit_signing_seed};
pub use data_dir::{DataDir, DataDirError};
pub use dev_issuer::{DEV_ISSUER, DevIssuer, DevIssuerError, DevTokenRequest};
pub use documents::LocalDocuments;
pub use index::{HYBRID_CANDIDATES, IndexError, LocalIndex, MAX_QUERY_TERMS, RRF_K};
pub use reviews::LocalReviews;
pub use sealed::{SealedReader, SealedWriter, open_sealed, plaintext_len as sealed_plaintext_len};
pub use store::{LocalStore, StoreError};
pub use texts::LocalTexts;
