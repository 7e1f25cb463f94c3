//! The Clment custom handler: the HTTP server the Azure Functions host forwards to, the trigger
//! endpoints, start-up, configuration, telemetry and the command line. `main` is a thin call into
//! [`cli::run`].

pub mod cli;
pub mod config;
pub mod http;
pub mod indexing;
pub mod reconcile;
pub mod reviewing;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod triggers;
pub mod worker;

pub use config::Settings;
pub use startup::Application;
