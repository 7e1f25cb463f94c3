//! Tenant scoping. Every port method takes a [`TenantScope`] first; adapters derive blob prefixes,
//! partition keys and search filters from it. A scope can only be built from a verified
//! [`Principal`], so no request input can name another tenant's data.

use crate::auth::principal::Principal;
use crate::domain::{OrgId, Region};

/// Permission to touch one organisation's data in this region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantScope {
    org: OrgId,
    region: Region,
}

/// Why no scope was granted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The caller's org lives in another region (answered 421 before storage is touched).
    #[error("the organisation's home region is {home}")]
    WrongRegion {
        /// The org's home region.
        home: Region,
    },
    /// The org in the path is not the caller's (answered 403 and audited).
    #[error("the caller belongs to another organisation")]
    CrossTenant,
}

impl TenantScope {
    /// Grants a scope for `requested` when it is the principal's own org and the org lives in
    /// `deployment` (this function app's region).
    ///
    /// # Errors
    /// [`ScopeError::WrongRegion`] first, then [`ScopeError::CrossTenant`].
    pub fn grant(
        principal: &Principal,
        requested: &OrgId,
        deployment: Region,
    ) -> Result<Self, ScopeError> {
        check_region(principal, deployment)?;
        if principal.org_id() != requested {
            return Err(ScopeError::CrossTenant);
        }
        Ok(Self {
            org: principal.org_id().clone(),
            region: deployment,
        })
    }

    /// A scope for an operator's command-line action on one org (plan changes, evidence export) or for
    /// the service's own background work on it (the audit digest signer). Never reachable from a
    /// request: no route handler calls it.
    #[must_use]
    pub fn for_operator(org: OrgId, region: Region) -> Self {
        Self { org, region }
    }

    /// A scope for a verified operator's region-level aggregates (`GET /api/operator/usage`): the
    /// org comes from the region's own org list, never from request input, and only counts are read.
    #[must_use]
    pub fn for_verified_operator(
        _operator: &crate::auth::jwt::Operator,
        org: OrgId,
        region: Region,
    ) -> Self {
        Self { org, region }
    }

    /// The organisation.
    #[must_use]
    pub fn org(&self) -> &OrgId {
        &self.org
    }

    /// The region the data lives in.
    #[must_use]
    pub fn region(&self) -> Region {
        self.region
    }

    /// A scope for adapter tests; never compiled into the service.
    #[cfg(any(test, feature = "test-support"))]
    #[must_use]
    pub fn for_tests(org: &str, region: Region) -> Self {
        Self {
            org: OrgId::parse(org).expect("valid org id"),
            region,
        }
    }
}

/// Checks the region pin alone (for routes without an org in the path).
///
/// # Errors
/// [`ScopeError::WrongRegion`] when the principal's org lives elsewhere.
pub fn check_region(principal: &Principal, deployment: Region) -> Result<(), ScopeError> {
    if principal.home_region() == deployment {
        Ok(())
    } else {
        Err(ScopeError::WrongRegion {
            home: principal.home_region(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;

    #[test]
    fn own_org_in_home_region_only() {
        let p = Principal::for_tests("acme", Role::Viewer, Region::Eu);
        let acme = OrgId::parse("acme").unwrap();
        let other = OrgId::parse("globex").unwrap();
        assert_eq!(
            TenantScope::grant(&p, &acme, Region::Eu).unwrap().org(),
            &acme
        );
        assert_eq!(
            TenantScope::grant(&p, &other, Region::Eu),
            Err(ScopeError::CrossTenant)
        );
        assert_eq!(
            TenantScope::grant(&p, &acme, Region::Us),
            Err(ScopeError::WrongRegion { home: Region::Eu })
        );
    }
}
