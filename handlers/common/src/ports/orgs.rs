use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::PortError;
use crate::TenantScope;
use crate::domain::{OrgId, Region};

/// An org's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// The default.
    Free,
    /// Paid features (for example requiring MFA).
    Paid,
}

/// A way to sign in, as the org allows it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SignInMethod {
    /// Password (amr `pwd`), possibly with a second factor.
    Password,
    /// The org's SSO provider (amr `external`/`fed`).
    Sso,
}

/// The org's sign-in policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecuritySettings {
    /// Allowed sign-in methods; never empty.
    pub allowed_sign_in_methods: Vec<SignInMethod>,
    /// Password sessions need a second factor (SSO sessions are exempt). Paid plan only.
    pub require_mfa: bool,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            allowed_sign_in_methods: vec![SignInMethod::Password, SignInMethod::Sso],
            require_mfa: false,
        }
    }
}

/// An organisation, created on its first authenticated request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgRecord {
    /// The org.
    #[schema(value_type = String)]
    pub org_id: OrgId,
    /// Home region (from the first token's `org_region`).
    pub home_region: Region,
    /// Plan.
    pub plan: Plan,
    /// Sign-in policy.
    pub security: SecuritySettings,
    /// When the record was created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// Org records.
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// The scope's org, created (free plan, default policy) when it does not exist yet.
    async fn get_or_create(
        &self,
        scope: &TenantScope,
        now: OffsetDateTime,
    ) -> Result<OrgRecord, PortError>;
    /// Replaces the security settings atomically; returns the record before and after.
    async fn update_security(
        &self,
        scope: &TenantScope,
        settings: SecuritySettings,
        now: OffsetDateTime,
    ) -> Result<(OrgRecord, OrgRecord), PortError>;
    /// Sets the plan (operators only); returns the record before and after.
    async fn set_plan(
        &self,
        scope: &TenantScope,
        plan: Plan,
        now: OffsetDateTime,
    ) -> Result<(OrgRecord, OrgRecord), PortError>;
    /// Up to `limit` org records of this region in id order, after `after` (exclusive). Not a
    /// tenant operation: for operators' region-level aggregates only.
    async fn list_orgs(
        &self,
        after: Option<&OrgId>,
        limit: usize,
    ) -> Result<Vec<OrgRecord>, PortError>;
}
