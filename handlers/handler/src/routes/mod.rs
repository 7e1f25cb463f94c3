//! Route handlers, one module per capability. Each takes what the dispatcher extracted and answers;
//! domain errors become replies here, never warp rejections.

pub mod api_keys;
pub mod audit;
pub mod contracts;
pub mod health;
pub mod me;
pub mod openapi;
pub mod orgs;
pub mod paging;
pub mod reviews;
pub mod search;
pub mod usage;
