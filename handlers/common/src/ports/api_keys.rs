use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::PortError;
use crate::TenantScope;
use crate::access::{ApiScope, Role};
use crate::auth::api_key::SecretHash;
use crate::domain::{OrgId, UserId};

/// One secret of a key. Rotation adds a secret and gives the previous one a retirement time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSecret {
    /// SHA-256 of the secret.
    pub hash: SecretHash,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working (set by rotation: now + grace).
    #[serde(with = "time::serde::rfc3339::option")]
    pub retires_at: Option<OffsetDateTime>,
}

/// A stored API key: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public id (part of the key).
    pub id: String,
    /// The org it is bound to.
    pub org: OrgId,
    /// Human label.
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<ApiScope>,
    /// Who created it.
    pub created_by: UserId,
    /// The creator's role at creation; rights are scopes intersected with it.
    pub creator_role: Role,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Last successful use (written at most once a minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Revocation time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Current and retiring secrets.
    pub secrets: Vec<StoredSecret>,
}

/// API key records.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key.
    async fn insert(&self, scope: &TenantScope, key: ApiKeyRecord) -> Result<(), PortError>;
    /// The org's keys, newest first.
    async fn list(&self, scope: &TenantScope) -> Result<Vec<ApiKeyRecord>, PortError>;
    /// One key of the org.
    async fn get(&self, scope: &TenantScope, id: &str) -> Result<Option<ApiKeyRecord>, PortError>;
    /// Replaces a key of the org (rotation, revocation). `NotFound` when it is not the org's.
    async fn replace(&self, scope: &TenantScope, key: ApiKeyRecord) -> Result<(), PortError>;
    /// Authentication only: the record for a key id, before any scope exists. The caller verifies the
    /// secret and then trusts the record's org, never the request's.
    async fn find_for_authentication(&self, id: &str) -> Result<Option<ApiKeyRecord>, PortError>;
    /// Records a successful use.
    async fn touch(&self, id: &str, at: OffsetDateTime) -> Result<(), PortError>;
}
