//! Black-box tests of the whole bundle. One test binary (one link) with a module per concern.
//! Most tests spawn the application in-process on port 0 with the local backend in a temporary
//! data directory; `process` runs the real `handler` executable the Functions host would start.

mod helpers;

mod api_keys;
mod audit;
mod contracts;
mod functions_layout;
mod health;
mod identity;
mod infra;
mod matrix;
mod openapi;
mod problems;
mod process;
mod rate_limits;
mod reviews;
mod search;
mod signin_policy;
mod token_attacks_http;
mod triggers;
mod usage;
