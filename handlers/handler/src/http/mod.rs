//! The HTTP layer: the route table, the one dispatcher every request passes through, authentication
//! at the edge of each route, bodies with limits, and problem+json replies with security headers.

pub mod auth;
pub mod body;
pub mod dispatch;
pub mod limits;
pub mod reply;
pub mod routes;

pub use dispatch::{Ctx, Request, filter};
