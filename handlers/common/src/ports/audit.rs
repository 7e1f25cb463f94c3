use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::PortError;
use crate::TenantScope;
use crate::auth::principal::{Credential, Principal};

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// User id (for API keys, the key's creator).
    pub user_id: String,
    /// The API key used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
}

impl Actor {
    /// The actor for a principal.
    #[must_use]
    pub fn of(p: &Principal) -> Self {
        Self {
            user_id: p.user_id().as_str().to_owned(),
            api_key_id: match p.credential() {
                Credential::ApiKey { key_id, .. } => Some(key_id.clone()),
                Credential::AccessToken => None,
            },
        }
    }

    /// An operator using the admin command line.
    #[must_use]
    pub fn operator(name: &str) -> Self {
        Self {
            user_id: format!("operator:{name}"),
            api_key_id: None,
        }
    }
}

/// Whether the action happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused (cross-tenant, role, sign-in policy).
    Denied,
}

/// An audit event as written by a handler. Ids and settings only: never contract text or secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Dotted action name (`security.updated`, `api_key.created`, `access.denied`, ...).
    pub action: String,
    /// Who.
    pub actor: Actor,
    /// Resource type (`org`, `api-key`, `contract`, `route`).
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Action-specific details (for example `before` and `after`).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The request that caused it.
    pub request_id: String,
}

/// An appended event with its place in the org's trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    /// Gapless per-org sequence number, from 1.
    pub seq: u64,
    /// When it was appended.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// The append-only audit trail: append and read, nothing else.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an event to the scope's trail.
    async fn append(
        &self,
        scope: &TenantScope,
        event: AuditEvent,
        at: OffsetDateTime,
    ) -> Result<StoredEvent, PortError>;
    /// Events with `seq > after`, oldest first, at most `limit`.
    async fn read(
        &self,
        scope: &TenantScope,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PortError>;
}
