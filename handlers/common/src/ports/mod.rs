//! Port traits: one per capability. Backends (`clment-local`, the Azure adapters) implement them;
//! every method that touches tenant data takes a [`crate::TenantScope`] first.

mod health;
mod jobs;

pub use health::{BackendHealth, HealthCheck, HealthStatus};
pub use jobs::{Job, JobError, JobQueue, LeasedJob};
