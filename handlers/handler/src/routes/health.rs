//! `GET /api/health`: liveness plus one readiness check per backend component.

use std::time::{Duration, Instant};

use clment_common::ports::{BackendHealth, HealthStatus};
use clment_common::problem::ErrorCode;
use http::StatusCode;
use serde::Serialize;
use warp::reply::Response;

use crate::http::reply::{self, ApiError};
use crate::state::AppState;

/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The health report.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok` when every check passed.
    pub status: HealthStatus,
    /// This deployment's region.
    pub region: clment_common::domain::Region,
    /// `local` or `azure`.
    pub backend: &'static str,
    /// The bundle's version.
    pub version: &'static str,
    /// One entry per backend component.
    pub checks: Vec<BackendHealth>,
}

/// Liveness and readiness.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "meta",
    responses(
        (status = 200, description = "Alive and every backend ready", body = Health),
        (status = 503, description = "A backend is not ready; `checks` says which", body = clment_common::problem::Problem, content_type = "application/problem+json"),
    )
)]
/// # Errors
/// 503 `unavailable` with the checks when any backend is down.
pub async fn health(state: &AppState) -> Result<Response, ApiError> {
    let probes = state.health.iter().map(|c| async move {
        let started = Instant::now();
        let result = tokio::time::timeout(PROBE_TIMEOUT, c.probe())
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())));
        BackendHealth {
            name: c.name().to_owned(),
            status: if result.is_ok() {
                HealthStatus::Ok
            } else {
                HealthStatus::Down
            },
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            detail: result.err(),
        }
    });
    let checks = futures_util::future::join_all(probes).await;
    let down: Vec<_> = checks
        .iter()
        .filter(|c| c.status == HealthStatus::Down)
        .map(|c| c.name.clone())
        .collect();
    if down.is_empty() {
        Ok(reply::json(
            StatusCode::OK,
            &Health {
                status: HealthStatus::Ok,
                region: state.settings.region,
                backend: state.backend_name,
                version: env!("CARGO_PKG_VERSION"),
                checks,
            },
        ))
    } else {
        for c in &checks {
            if let Some(d) = &c.detail {
                tracing::warn!(check = %c.name, detail = %d, "readiness check failed");
            }
        }
        Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("Not ready: {}.", down.join(", ")),
        )
        .with("checks", serde_json::to_value(&checks).unwrap_or_default()))
    }
}
