use async_trait::async_trait;
use serde::Serialize;

/// A backend's readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Answering.
    Ok,
    /// Not answering.
    Down,
}

/// One readiness check's result. `detail` is for operators and never holds secrets or tenant data.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendHealth {
    /// What was checked (`metadata-store`, `job-queue`, ...).
    pub name: String,
    /// The outcome.
    pub status: HealthStatus,
    /// Time the check took, in milliseconds.
    pub latency_ms: u64,
    /// Why it is down: for the log only, never serialised into the public health answer.
    #[serde(skip)]
    pub detail: Option<String>,
}

/// A readiness probe for one backend component.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Name shown in `GET /api/health`.
    fn name(&self) -> &'static str;
    /// Probes the component; `Err` carries an operator-facing reason.
    async fn probe(&self) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The health answer is public: a check's error text (paths, hosts, SDK messages) never leaves the log.
    #[test]
    fn details_are_never_serialised() {
        let h = BackendHealth {
            name: "blob-storage".into(),
            status: HealthStatus::Down,
            latency_ms: 3,
            detail: Some("/srv/secret: connection refused by 10.0.0.7".into()),
        };
        let json = serde_json::to_string(&h).unwrap();
        assert!(
            json.contains("blob-storage") && json.contains("down"),
            "{json}"
        );
        assert!(
            !json.contains("secret") && !json.contains("10.0.0.7"),
            "{json}"
        );
    }
}
