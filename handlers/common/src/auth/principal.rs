//! The verified caller.

use serde::Serialize;

use crate::access::{ApiScope, Permission, Role};
use crate::domain::{OrgId, Region, UserId};

/// How the session signed in, from the token's `amr` claim (RFC 8176 values).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    /// `pwd`: a password was used.
    pub password: bool,
    /// `external` (or `fed`): the user came through the org's SSO provider.
    pub sso: bool,
    /// `mfa`, `otp`, `hwk`, `swk`, `sms`, `fpt`, ...: a second factor was used.
    pub second_factor: bool,
}

impl SignIn {
    /// Reads the `amr` values; unknown values are ignored.
    #[must_use]
    pub fn from_amr<S: AsRef<str>>(amr: &[S]) -> Self {
        let mut s = Self::default();
        for v in amr {
            match v.as_ref() {
                "pwd" => s.password = true,
                "external" | "fed" => s.sso = true,
                "mfa" | "otp" | "hwk" | "swk" | "sms" | "fpt" | "face" | "iris" | "pin" | "sc" => {
                    s.second_factor = true;
                }
                _ => {}
            }
        }
        s
    }
}

/// Which credential the principal presented.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Credential {
    /// An interactive session's access token.
    AccessToken,
    /// An org API key (machine credential).
    ApiKey {
        /// The key's public id.
        key_id: String,
        /// The key's scopes; rights are these intersected with the creator's role.
        scopes: Vec<ApiScope>,
    },
}

/// A caller whose credentials were verified. Only the `auth` module can build one.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    #[schema(value_type = String)]
    user_id: UserId,
    #[schema(value_type = String)]
    org_id: OrgId,
    role: Role,
    home_region: Region,
    sign_in: SignIn,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    credential: Credential,
}

impl Principal {
    pub(crate) fn new(
        user_id: UserId,
        org_id: OrgId,
        role: Role,
        home_region: Region,
        sign_in: SignIn,
        email: Option<String>,
        credential: Credential,
    ) -> Self {
        Self {
            user_id,
            org_id,
            role,
            home_region,
            sign_in,
            email,
            credential,
        }
    }

    /// The user (token `sub`).
    #[must_use]
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The token's `email`, when it had one.
    #[must_use]
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// The caller's organisation (token `org_id`).
    #[must_use]
    pub fn org_id(&self) -> &OrgId {
        &self.org_id
    }

    /// The caller's highest role in the org.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// The org's home region (token `org_region`).
    #[must_use]
    pub fn home_region(&self) -> Region {
        self.home_region
    }

    /// How the session signed in.
    #[must_use]
    pub fn sign_in(&self) -> &SignIn {
        &self.sign_in
    }

    /// Which credential was presented.
    #[must_use]
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// Whether this is an interactive session (an access token), not a machine key.
    #[must_use]
    pub fn is_interactive(&self) -> bool {
        matches!(self.credential, Credential::AccessToken)
    }

    /// Whether the principal holds `permission`: its role allows it and, for API keys, a scope covers it.
    #[must_use]
    pub fn may(&self, permission: Permission) -> bool {
        self.role.allows(permission)
            && match &self.credential {
                Credential::AccessToken => true,
                Credential::ApiKey { scopes, .. } => scopes.iter().any(|s| s.covers(permission)),
            }
    }

    /// The principal an API key authenticates as: its org, its creator and the creator's role, its scopes.
    pub(crate) fn for_api_key(
        creator: UserId,
        org_id: OrgId,
        creator_role: Role,
        home_region: Region,
        key_id: String,
        scopes: Vec<ApiScope>,
    ) -> Self {
        Self::new(
            creator,
            org_id,
            creator_role,
            home_region,
            SignIn::default(),
            None,
            Credential::ApiKey { key_id, scopes },
        )
    }

    /// A principal for tests of code that needs one; never compiled into the service.
    #[cfg(any(test, feature = "test-support"))]
    #[must_use]
    pub fn for_tests(org: &str, role: Role, region: Region) -> Self {
        Self::new(
            UserId::parse("test-user").expect("valid"),
            OrgId::parse(org).expect("valid org id"),
            role,
            region,
            SignIn::default(),
            None,
            Credential::AccessToken,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_values() {
        assert_eq!(
            SignIn::from_amr(&["pwd", "mfa"]),
            SignIn {
                password: true,
                sso: false,
                second_factor: true
            }
        );
        assert_eq!(
            SignIn::from_amr(&["external"]),
            SignIn {
                password: false,
                sso: true,
                second_factor: false
            }
        );
        assert_eq!(SignIn::from_amr::<&str>(&[]), SignIn::default());
    }
}

#[cfg(test)]
mod key_rights {
    use super::*;

    fn key(role: Role, scopes: &[ApiScope]) -> Principal {
        Principal::for_api_key(
            UserId::parse("creator").unwrap(),
            OrgId::parse("acme").unwrap(),
            role,
            Region::Us,
            "0123456789abcdef".into(),
            scopes.to_vec(),
        )
    }

    /// A key's rights are its scopes intersected with its creator's role, for every combination.
    #[test]
    fn scopes_times_role() {
        for role in Role::ALL {
            for scope in ApiScope::ALL {
                let k = key(role, &[scope]);
                for p in Permission::ALL {
                    assert_eq!(
                        k.may(p),
                        role.allows(p) && scope.covers(p),
                        "{role} {scope:?} {p:?}"
                    );
                }
            }
        }
        // Concretely: a member's audit key reads nothing of the audit trail; an admin's does.
        assert!(!key(Role::Member, &[ApiScope::AuditRead]).may(Permission::AuditRead));
        assert!(key(Role::Admin, &[ApiScope::AuditRead]).may(Permission::AuditRead));
        assert!(!key(Role::Owner, &ApiScope::ALL).may(Permission::ApiKeysManage));
        assert!(!key(Role::Owner, &[]).may(Permission::ContractsRead));
    }
}
