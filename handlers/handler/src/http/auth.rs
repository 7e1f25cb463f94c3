//! Authentication and authorisation at the edge of each route: bearer token -> principal -> region
//! pin -> tenant scope -> role. Precise reasons go to the log; clients get generic details.

use clment_common::access::Permission;
use clment_common::auth::jwt::{TokenError, TokenValidator};
use clment_common::domain::{OrgId, Region};
use clment_common::problem::ErrorCode;
use clment_common::tenancy::{ScopeError, check_region};
use clment_common::{Principal, TenantScope};
use http::HeaderMap;
use http::header::{self, HeaderValue};

use super::reply::ApiError;

/// Reads and verifies the bearer token.
///
/// # Errors
/// 401 with `WWW-Authenticate` when missing or invalid; 503 when the signing keys are unavailable.
pub async fn authenticate(
    validator: &TokenValidator,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "This route needs a bearer access token.",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"clment\""),
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        tracing::info!(target: "security", reason = "not a bearer credential", "credential refused");
        return Err(invalid_token());
    };
    match validator.verify(token).await {
        Ok(p) => Ok(p),
        Err(TokenError::KeysUnavailable(why)) => {
            tracing::error!(target: "security", reason = %why, "cannot verify tokens: signing keys unavailable");
            Err(ApiError::new(
                ErrorCode::Unavailable,
                "Access tokens cannot be verified right now; retry shortly.",
            )
            .header(header::RETRY_AFTER, HeaderValue::from_static("5")))
        }
        Err(e) => {
            tracing::info!(target: "security", reason = %e, "access token refused");
            Err(invalid_token())
        }
    }
}

fn invalid_token() -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, "The access token is not valid.").header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"clment\", error=\"invalid_token\""),
    )
}

fn wrong_region(home: Region, here: Region) -> ApiError {
    ApiError::new(
        ErrorCode::WrongRegion,
        format!("Your organisation's data lives in region {home}; this is region {here}."),
    )
    .with("homeRegion", home.as_str())
}

/// Region pin and role check for routes without an org in the path.
///
/// # Errors
/// 421 for another region, 403 when the role lacks the permission.
pub fn authorize(
    principal: &Principal,
    here: Region,
    permission: Permission,
) -> Result<(), ApiError> {
    check_region(principal, here).map_err(|_| wrong_region(principal.home_region(), here))?;
    check_role(principal, permission)
}

/// Region pin, tenant check and role check for `/api/orgs/{orgId}/...` routes.
///
/// # Errors
/// 400 for a malformed org id, 421 for another region, 403 for another org or a missing role.
pub fn authorize_tenant(
    principal: &Principal,
    path_org: &str,
    here: Region,
    permission: Permission,
) -> Result<TenantScope, ApiError> {
    let org = OrgId::parse(path_org)
        .map_err(|e| ApiError::new(ErrorCode::InvalidPath, format!("orgId: {e}.")))?;
    let scope = TenantScope::grant(principal, &org, here).map_err(|e| match e {
        ScopeError::WrongRegion { home } => wrong_region(home, here),
        ScopeError::CrossTenant => {
            tracing::warn!(
                target: "security",
                event = "access.denied",
                reason = "cross_tenant",
                principal_org = %principal.org_id(),
                user = %principal.user_id(),
                requested_org = %org,
                "cross-tenant request refused"
            );
            ApiError::new(
                ErrorCode::CrossTenant,
                "You can only access your own organisation.",
            )
        }
    })?;
    check_role(principal, permission)?;
    Ok(scope)
}

fn check_role(principal: &Principal, permission: Permission) -> Result<(), ApiError> {
    if principal.role().allows(permission) {
        Ok(())
    } else {
        tracing::info!(
            target: "security",
            event = "access.denied",
            reason = "insufficient_role",
            role = %principal.role(),
            ?permission,
            "request refused by role"
        );
        Err(ApiError::new(
            ErrorCode::InsufficientRole,
            format!("Your role ({}) does not allow this.", principal.role()),
        ))
    }
}
