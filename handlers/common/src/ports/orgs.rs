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

/// The org's security policy: how its people sign in, and what of its contracts AI review may send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecuritySettings {
    /// Allowed sign-in methods; never empty.
    pub allowed_sign_in_methods: Vec<SignInMethod>,
    /// Password sessions need a second factor (SSO sessions are exempt). Paid plan only.
    pub require_mfa: bool,
    /// What AI review may do with the org's contracts (records stored before it existed read as the
    /// default).
    #[serde(default)]
    pub ai_review: AiReviewPolicy,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            allowed_sign_in_methods: vec![SignInMethod::Password, SignInMethod::Sso],
            require_mfa: false,
            ai_review: AiReviewPolicy::default(),
        }
    }
}

/// A new security policy, as `PUT /security` takes it. `ai_review` may be left out: the stored AI
/// review policy then stays as it is, decided inside the store's atomic update (a client that only
/// knows the sign-in fields, or a concurrent sign-in change, cannot widen what AI review may send).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityUpdate {
    /// Allowed sign-in methods; at least one.
    pub allowed_sign_in_methods: Vec<SignInMethod>,
    /// Password sessions need a second factor (SSO sessions are exempt). Paid plan only.
    pub require_mfa: bool,
    /// What AI review may send of the org's contracts; unchanged when absent.
    #[serde(default)]
    pub ai_review: Option<AiReviewPolicy>,
}

impl SecurityUpdate {
    /// The settings this update makes of `current`.
    #[must_use]
    pub fn apply(&self, current: &SecuritySettings) -> SecuritySettings {
        SecuritySettings {
            allowed_sign_in_methods: self.allowed_sign_in_methods.clone(),
            require_mfa: self.require_mfa,
            ai_review: self.ai_review.unwrap_or(current.ai_review),
        }
    }
}

impl From<SecuritySettings> for SecurityUpdate {
    /// An update to exactly these settings.
    fn from(s: SecuritySettings) -> Self {
        Self {
            allowed_sign_in_methods: s.allowed_sign_in_methods,
            require_mfa: s.require_mfa,
            ai_review: Some(s.ai_review),
        }
    }
}

/// The org's AI review policy. By default a review may send the deployment's model
/// (`CLMENT_REVIEW_PROVIDER=foundry`) the deployment's share of a contract
/// (`CLMENT_REVIEW_CONTEXT_PERCENT`); an org may forbid sending anything, or send less.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiReviewPolicy {
    /// Whether passages of the org's contracts may be sent to the deployment's AI model. When
    /// `false`, reviews run on the offline provider: no contract text leaves the service.
    pub allow_remote_model: bool,
    /// The largest share of a contract, in percent (5 to 100), a review may send; the deployment's
    /// share applies when it is lower or this is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 5, maximum = 100)]
    pub max_context_percent: Option<u8>,
}

impl Default for AiReviewPolicy {
    fn default() -> Self {
        Self {
            allow_remote_model: true,
            max_context_percent: None,
        }
    }
}

impl AiReviewPolicy {
    /// The smallest and largest `max_context_percent`.
    pub const PERCENT_RANGE: std::ops::RangeInclusive<u8> = 5..=100;

    /// The share of a contract (0..=1) a review may send, given the deployment's percent.
    #[must_use]
    pub fn context_share(&self, deployment_percent: u8) -> f64 {
        let percent = self
            .max_context_percent
            .map_or(deployment_percent, |p| p.min(deployment_percent));
        f64::from(percent) / 100.0
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
    /// Security policy: sign-in and AI review.
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
    /// Applies `update` to the security settings atomically (an absent AI review policy keeps the
    /// stored one); returns the record before and after.
    async fn update_security(
        &self,
        scope: &TenantScope,
        update: SecurityUpdate,
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
