//! Authentication: who is calling.
//!
//! Access tokens are JWTs from the Clment identity server, verified against its JWKS ([`jwt`]).
//! A verified token becomes a [`principal::Principal`], the only input from which a
//! [`crate::TenantScope`] can be built.

pub mod api_key;
pub mod jwks;
pub mod jwt;
pub mod principal;
