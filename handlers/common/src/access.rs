//! Roles, permissions, and the one table that says which role holds which permission.
//!
//! | permission        | viewer | member | admin | owner |
//! |-------------------|:------:|:------:|:-----:|:-----:|
//! | `profile:read`    |   x    |   x    |   x   |   x   |
//! | `contracts:read`  |   x    |   x    |   x   |   x   |
//! | `search`          |   x    |   x    |   x   |   x   |
//! | `reviews:read`    |   x    |   x    |   x   |   x   |
//! | `contracts:write` |        |   x    |   x   |   x   |
//! | `reviews:run`     |        |   x    |   x   |   x   |
//! | `contracts:delete`|        |        |   x   |   x   |
//! | `api-keys:manage` |        |        |   x   |   x   |
//! | `audit:read`      |        |        |   x   |   x   |
//! | `usage:read`      |        |        |   x   |   x   |
//! | `security:manage` |        |        |   x   |   x   |
//! | `owners:manage`   |        |        |       |   x   |
//!
//! Route checks call [`Role::allows`]; the route x role test matrix calls the same function, so the
//! table above, the code and the tests cannot drift apart.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A member's role in an organisation, lowest first.
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
pub enum Role {
    /// Reads and searches.
    Viewer,
    /// Also uploads, renames and requests reviews.
    Member,
    /// Also deletes, manages API keys, exports audit and changes security settings.
    Admin,
    /// Also manages owners.
    Owner,
}

/// The value is not a known role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be one of owner, admin, member, viewer")]
pub struct RoleError;

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Self; 4] = [Self::Viewer, Self::Member, Self::Admin, Self::Owner];

    /// The role's name as it appears in tokens.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// The lowest role that holds `permission`: the permission table.
    #[must_use]
    pub fn lowest_with(permission: Permission) -> Self {
        match permission {
            Permission::ProfileRead
            | Permission::ContractsRead
            | Permission::Search
            | Permission::ReviewsRead => Self::Viewer,
            Permission::ContractsWrite | Permission::ReviewsRun => Self::Member,
            Permission::ContractsDelete
            | Permission::ApiKeysManage
            | Permission::AuditRead
            | Permission::UsageRead
            | Permission::SecurityManage => Self::Admin,
            Permission::OwnersManage => Self::Owner,
        }
    }

    /// Whether this role holds `permission`.
    #[must_use]
    pub fn allows(self, permission: Permission) -> bool {
        self >= Self::lowest_with(permission)
    }
}

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "member" => Ok(Self::Member),
            "admin" => Ok(Self::Admin),
            "owner" => Ok(Self::Owner),
            _ => Err(RoleError),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route needs. Routes name exactly one permission (or none, for public routes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// See one's own session.
    ProfileRead,
    /// List, read and download contracts.
    ContractsRead,
    /// Upload and rename contracts.
    ContractsWrite,
    /// Delete contracts.
    ContractsDelete,
    /// Search an org's contracts.
    Search,
    /// Read reviews.
    ReviewsRead,
    /// Request reviews.
    ReviewsRun,
    /// Create, rotate and revoke API keys.
    ApiKeysManage,
    /// Read and export the audit trail.
    AuditRead,
    /// Read the org's usage aggregates (counts, bytes, tokens).
    UsageRead,
    /// Read and change the org's sign-in policy.
    SecurityManage,
    /// Grant and remove the owner role.
    OwnersManage,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Self; 12] = [
        Self::ProfileRead,
        Self::ContractsRead,
        Self::ContractsWrite,
        Self::ContractsDelete,
        Self::Search,
        Self::ReviewsRead,
        Self::ReviewsRun,
        Self::ApiKeysManage,
        Self::AuditRead,
        Self::UsageRead,
        Self::SecurityManage,
        Self::OwnersManage,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_cumulative() {
        for p in Permission::ALL {
            let mut held = false;
            for r in Role::ALL {
                // once a role holds a permission, every higher role holds it too
                held |= r.allows(p);
                assert_eq!(r.allows(p), held, "{r} / {p:?}");
            }
            assert!(Role::Owner.allows(p));
        }
    }

    #[test]
    fn table_matches_the_issue() {
        assert!(Role::Viewer.allows(Permission::Search));
        assert!(!Role::Viewer.allows(Permission::ContractsWrite));
        assert!(Role::Member.allows(Permission::ReviewsRun));
        assert!(!Role::Member.allows(Permission::ContractsDelete));
        assert!(Role::Admin.allows(Permission::ApiKeysManage));
        assert!(!Role::Admin.allows(Permission::OwnersManage));
    }
}

/// What an API key may be granted. A key's rights are its scopes intersected with its creator's role.
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
pub enum ApiScope {
    /// Read contracts and their reviews.
    #[serde(rename = "contracts:read")]
    ContractsRead,
    /// Upload, rename and delete contracts (delete still needs an admin creator).
    #[serde(rename = "contracts:write")]
    ContractsWrite,
    /// Request and read reviews.
    #[serde(rename = "reviews:run")]
    ReviewsRun,
    /// Search.
    #[serde(rename = "search")]
    Search,
    /// Read and export the audit trail.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Read the org's usage aggregates (e.g. for a billing system).
    #[serde(rename = "usage:read")]
    UsageRead,
}

impl ApiScope {
    /// Every scope.
    pub const ALL: [Self; 6] = [
        Self::ContractsRead,
        Self::ContractsWrite,
        Self::ReviewsRun,
        Self::Search,
        Self::AuditRead,
        Self::UsageRead,
    ];

    /// Whether this scope covers `permission`. Key management, security settings and owner management
    /// are never available to keys.
    #[must_use]
    pub fn covers(self, permission: Permission) -> bool {
        matches!(
            (self, permission),
            (_, Permission::ProfileRead)
                | (
                    Self::ContractsRead,
                    Permission::ContractsRead | Permission::ReviewsRead
                )
                | (
                    Self::ContractsWrite,
                    Permission::ContractsWrite | Permission::ContractsDelete
                )
                | (
                    Self::ReviewsRun,
                    Permission::ReviewsRun | Permission::ReviewsRead
                )
                | (Self::Search, Permission::Search)
                | (Self::AuditRead, Permission::AuditRead)
                | (Self::UsageRead, Permission::UsageRead)
        )
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn keys_never_manage_keys_security_or_owners() {
        for s in ApiScope::ALL {
            assert!(!s.covers(Permission::ApiKeysManage));
            assert!(!s.covers(Permission::SecurityManage));
            assert!(!s.covers(Permission::OwnersManage));
        }
    }

    #[test]
    fn scope_names() {
        assert_eq!(
            serde_json::to_value(ApiScope::ContractsRead).unwrap(),
            "contracts:read"
        );
        assert_eq!(
            serde_json::from_value::<ApiScope>("search".into()).unwrap(),
            ApiScope::Search
        );
        assert!(serde_json::from_value::<ApiScope>("admin".into()).is_err());
    }
}
