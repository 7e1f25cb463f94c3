use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::PortError;
use crate::TenantScope;
use crate::audit::Digest;
use crate::auth::principal::{Credential, Principal};
use crate::domain::OrgId;

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Actor {
    /// A signed-in user.
    User {
        /// Token `sub`.
        user_id: String,
        /// Token `email`, when present.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
    },
    /// An org API key.
    ApiKey {
        /// The key's public id.
        api_key_id: String,
        /// The user who created the key.
        created_by: String,
    },
    /// The service itself (indexer, reviewer, digest signer).
    System {
        /// Which part of the service.
        name: String,
    },
    /// Support staff using the admin command line.
    Operator {
        /// The operator's name as given on the command line.
        name: String,
    },
}

impl Actor {
    /// The actor for a principal.
    #[must_use]
    pub fn of(p: &Principal) -> Self {
        match p.credential() {
            Credential::ApiKey { key_id, .. } => Self::ApiKey {
                api_key_id: key_id.clone(),
                created_by: p.user_id().as_str().to_owned(),
            },
            Credential::AccessToken => Self::User {
                user_id: p.user_id().as_str().to_owned(),
                email: p.email().map(str::to_owned),
            },
        }
    }

    /// An operator using the admin command line.
    #[must_use]
    pub fn operator(name: &str) -> Self {
        Self::Operator {
            name: name.to_owned(),
        }
    }

    /// A part of the service acting on its own.
    #[must_use]
    pub fn system(name: &str) -> Self {
        Self::System {
            name: name.to_owned(),
        }
    }

    /// `user`, `apiKey`, `system` or `operator`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User { .. } => "user",
            Self::ApiKey { .. } => "apiKey",
            Self::System { .. } => "system",
            Self::Operator { .. } => "operator",
        }
    }

    /// The user id, key id, or name.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::User { user_id, .. } => user_id,
            Self::ApiKey { api_key_id, .. } => api_key_id,
            Self::System { name } | Self::Operator { name } => name,
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
    /// Attempted and failed (for example an indexing or review failure).
    Failure,
}

impl Outcome {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }
}

/// Where the request came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    /// Client IP address (from the Functions host's `X-Forwarded-For`, else the peer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `User-Agent`, bounded and stripped of control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// An audit event as written by a handler. Ids and settings only: never contract text or secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Dotted action name (`contract.uploaded`, `apikey.created`, `access.denied`, ...).
    pub action: String,
    /// Who.
    pub actor: Actor,
    /// Resource type (`org`, `apikey`, `contract`, `review`, `route`).
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// The contract a contract or review event belongs to (the activity trail's key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_id: Option<String>,
    /// Outcome.
    pub outcome: Outcome,
    /// Why it was denied or failed (a reason code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Action-specific details (for example `before` and `after` of a setting).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The request that caused it (none for system work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Where the request came from.
    #[serde(default)]
    pub client: Client,
}

/// An appended event with its place in the org's hash chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    /// Unique event id (UUID v7).
    pub id: String,
    /// The org whose trail holds it.
    #[schema(value_type = String)]
    pub org_id: OrgId,
    /// Gapless per-org sequence number, from 1.
    pub seq: u64,
    /// When it was appended (UTC, microseconds, never earlier than the previous event).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The previous event's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and the canonical encoding of everything above (hex).
    pub hash: String,
}

/// The append-only audit trail: events and signed digests are appended and read; nothing in this
/// port (or anywhere else) updates or deletes them.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an event to the scope's trail, chaining it to the current head
    /// ([`crate::audit::seal`]); gapless under concurrent writers.
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
    /// The trail's last event.
    async fn last(&self, scope: &TenantScope) -> Result<Option<StoredEvent>, PortError>;
    /// One contract's events (its own and its reviews'), newest first, with `seq < before`.
    async fn read_contract(
        &self,
        scope: &TenantScope,
        contract_id: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PortError>;
    /// The first sequence number whose event is at or after `at` (`None`: no such event).
    async fn first_seq_at(
        &self,
        scope: &TenantScope,
        at: OffsetDateTime,
    ) -> Result<Option<u64>, PortError>;
    /// Appends a signed digest; `Conflict` when its number is taken.
    async fn append_digest(&self, scope: &TenantScope, digest: Digest) -> Result<(), PortError>;
    /// Digests with `number > after`, oldest first, at most `limit`.
    async fn read_digests(
        &self,
        scope: &TenantScope,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Digest>, PortError>;
    /// The last digest appended.
    async fn last_digest(&self, scope: &TenantScope) -> Result<Option<Digest>, PortError>;
    /// System work only (the digest signer): every org with a trail.
    async fn orgs_with_trails(&self) -> Result<Vec<OrgId>, PortError>;
}

/// A second, append-only copy of each org's audit trail outside the database, written by the digest
/// timer: on Azure, NDJSON objects in the plane's Blob Storage, kept 90 days (Cosmos DB's own
/// backups stop at 30 days and its vaulted backup cannot read the trail's hierarchical partition
/// key). Each object holds consecutive events, one [`StoredEvent`] per line, exactly as the export
/// route writes them, so `handler verify-export` checks an archive like an export.
#[async_trait]
pub trait AuditArchive: Send + Sync {
    /// The last sequence number archived for the scope's org (`None`: nothing archived, or all of
    /// it expired).
    async fn archived_up_to(&self, scope: &TenantScope) -> Result<Option<u64>, PortError>;
    /// Stores events `first..=last` as one object; `Conflict` when that range is stored already.
    async fn put(
        &self,
        scope: &TenantScope,
        first: u64,
        last: u64,
        ndjson: Vec<u8>,
    ) -> Result<(), PortError>;
}
