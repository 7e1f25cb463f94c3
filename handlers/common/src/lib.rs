//! The Clment common crate: what every capability shares.
//!
//! - [`domain`]: identifiers and values that are parsed once at the edge (`OrgId`, `Region`, `Role`, ...).
//! - [`auth`]: access-token validation against the identity server's JWKS, and the verified [`Principal`].
//! - [`tenancy`]: the [`TenantScope`], which can only be built from a verified principal.
//! - [`access`]: the one permission table that routes and tests both use.
//! - [`problem`]: the RFC 9457 problem+json error table.
//! - [`ports`]: the port traits that backends implement.
//! - [`audit`]: the audit trail's hash chain, signed digests and verification.
//! - [`review`]: AI contract review: taxonomy, provider port, minimisation, verification, evaluation.
//!
//! No web framework and no cloud SDK appear here.

pub mod access;
pub mod audit;
pub mod auth;
pub mod content;
pub mod domain;
pub mod placement;
pub mod ports;
pub mod problem;
pub mod ratelimit;
pub mod review;
pub mod signin;
pub mod tenancy;
pub mod text;

pub use auth::principal::Principal;
pub use tenancy::TenantScope;
