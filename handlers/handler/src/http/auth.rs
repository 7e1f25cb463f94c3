//! Authentication and authorisation at the edge of each route: credential -> principal -> region pin
//! -> tenant check -> org sign-in policy -> credential kind -> permission. Precise reasons go to the
//! log; refusals after authentication are also written to the caller's org audit trail.

use clment_common::access::Permission;
use clment_common::auth::api_key;
use clment_common::auth::jwt::TokenError;
use clment_common::domain::{OrgId, Region};
use clment_common::ports::{Actor, AuditEvent, OrgRecord, Outcome};
use clment_common::problem::ErrorCode;
use clment_common::signin::{self, SignInRefusal};
use clment_common::tenancy::{ScopeError, check_region};
use clment_common::{Principal, TenantScope};
use http::HeaderMap;
use http::header::{self, HeaderValue};
use time::OffsetDateTime;

use super::dispatch::Request;
use super::reply::ApiError;
use super::routes::{Access, Credentials, RouteSpec};
use crate::state::AppState;

/// Reads and verifies the bearer credential: an access token, or an API key (`clm_…`).
///
/// # Errors
/// 401 with `WWW-Authenticate` when missing or invalid; 503 when it cannot be verified right now.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "This route needs a bearer access token or API key.",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"clment\""),
        ));
    };
    let Some(token) = bearer(value) else {
        tracing::info!(target: "security", reason = "not a bearer credential", "credential refused");
        return Err(invalid_token());
    };
    if api_key::looks_like_key(token) {
        return match api_key::authenticate(
            &*state.keys,
            token,
            state.settings.region,
            OffsetDateTime::now_utc(),
        )
        .await
        {
            Ok(p) => Ok(p),
            Err(api_key::KeyError::Store(why)) => {
                tracing::error!(target: "security", reason = %why, "cannot verify API keys");
                Err(unavailable(
                    "API keys cannot be verified right now; retry shortly.",
                ))
            }
            Err(e) => {
                let key_id = api_key::parse(token).map(|(id, _)| id);
                tracing::info!(target: "security", reason = %e, key_id = key_id.as_deref().unwrap_or("-"), "API key refused");
                Err(invalid_token())
            }
        };
    }
    match state.tokens.verify(token).await {
        Ok(p) => Ok(p),
        Err(TokenError::KeysUnavailable(why)) => {
            tracing::error!(target: "security", reason = %why, "cannot verify tokens: signing keys unavailable");
            Err(unavailable(
                "Access tokens cannot be verified right now; retry shortly.",
            ))
        }
        Err(e) => {
            tracing::info!(target: "security", reason = %e, "access token refused");
            Err(invalid_token())
        }
    }
}

/// Reads and verifies an operator's bearer access token (operator routes accept nothing else).
///
/// # Errors
/// 401 when missing or not a valid operator token; 503 when it cannot be verified right now.
pub async fn authenticate_operator(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<clment_common::auth::jwt::Operator, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(bearer)
        .filter(|t| !api_key::looks_like_key(t));
    let refused = || {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "This route needs an operator access token.",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"clment-operator\", error=\"invalid_token\""),
        )
    };
    let Some(token) = token else {
        tracing::info!(target: "security", reason = "no operator bearer token", "operator credential refused");
        return Err(refused());
    };
    match state.operator_tokens.verify_operator(token).await {
        Ok(op) => Ok(op),
        Err(TokenError::KeysUnavailable(why)) => {
            tracing::error!(target: "security", reason = %why, "cannot verify operator tokens: signing keys unavailable");
            Err(unavailable(
                "Access tokens cannot be verified right now; retry shortly.",
            ))
        }
        Err(e) => {
            tracing::warn!(target: "security", reason = %e, "operator token refused");
            Err(refused())
        }
    }
}

/// The credential of an `Authorization: Bearer <credential>` header (scheme case-insensitive).
fn bearer(value: &HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
}

fn unavailable(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, detail)
        .header(header::RETRY_AFTER, HeaderValue::from_static("5"))
}

fn invalid_token() -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, "The credential is not valid.").header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"clment\", error=\"invalid_token\""),
    )
}

/// What a route's handler may act on once the gate has passed.
pub struct Granted {
    /// The verified caller.
    pub principal: Principal,
    /// The caller's own org, in this region.
    pub scope: TenantScope,
    /// The org's record (plan, policy).
    pub org: OrgRecord,
}

/// Runs every check a route's access requires, in order, before any handler code.
///
/// # Errors
/// The refusal, as a problem; refusals after the region pin are audited in the caller's own org.
pub async fn gate(
    state: &AppState,
    spec: &RouteSpec,
    req: &Request,
    principal: Principal,
) -> Result<Granted, ApiError> {
    let here = state.settings.region;
    let permission = match spec.access {
        Access::Public | Access::Operator => unreachable_public(),
        Access::Principal(p) | Access::Tenant(p) => p,
    };
    // 1. Region pin, before any storage is touched.
    check_region(&principal, here).map_err(|_| wrong_region(principal.home_region(), here))?;
    // The caller's own org: the only scope this request can ever get.
    let own = TenantScope::grant(&principal, &principal.org_id().clone(), here)
        .map_err(|e| ApiError::internal(&format!("own scope refused: {e}")))?;

    // 2. Tenant check: pure, so a cross-tenant request never reaches the other org's data.
    if let Access::Tenant(_) = spec.access {
        let raw = req.params.get("orgId").unwrap_or_default();
        let org = OrgId::parse(raw)
            .map_err(|e| ApiError::new(ErrorCode::InvalidPath, format!("orgId: {e}.")))?;
        if let Err(ScopeError::CrossTenant) = TenantScope::grant(&principal, &org, here) {
            tracing::warn!(
                target: "security", event = "access.denied", reason = "cross_tenant",
                principal_org = %principal.org_id(), user = %principal.user_id(), requested_org = %org,
                "cross-tenant request refused"
            );
            deny(
                state,
                &own,
                &principal,
                spec,
                req,
                "cross_tenant",
                serde_json::json!({ "requestedOrg": org.as_str() }),
            )
            .await;
            return Err(ApiError::new(
                ErrorCode::CrossTenant,
                "You can only access your own organisation.",
            ));
        }
    }

    // 3. The org record (created on first use) and its sign-in policy.
    let org = clment_common::ports::OrgStore::get_or_create(
        &*state.orgs,
        &own,
        OffsetDateTime::now_utc(),
    )
    .await
    .map_err(|e| ApiError::internal(&e))?;
    if let Err(refusal) = signin::check(&org.security, &principal) {
        let (code, detail, reason) = match refusal {
            SignInRefusal::SsoRequired => (
                ErrorCode::SsoRequired,
                "Sign in through your organisation's single sign-on provider.",
                "sso_required",
            ),
            SignInRefusal::MfaRequired => (
                ErrorCode::MfaRequired,
                "Sign in again with a second factor (MFA).",
                "mfa_required",
            ),
            SignInRefusal::MethodNotAllowed => (
                ErrorCode::SignInMethodNotAllowed,
                "Sign in with a method your organisation allows.",
                "sign_in_method_not_allowed",
            ),
        };
        deny(
            state,
            &own,
            &principal,
            spec,
            req,
            reason,
            serde_json::json!({}),
        )
        .await;
        return Err(ApiError::new(code, detail));
    }

    // 4. Credential kind, then permission.
    if spec.credentials == Credentials::InteractiveOnly && !principal.is_interactive() {
        deny(
            state,
            &own,
            &principal,
            spec,
            req,
            "interactive_session_required",
            serde_json::json!({}),
        )
        .await;
        return Err(ApiError::new(
            ErrorCode::InteractiveSessionRequired,
            "API keys cannot do this; sign in as a user.",
        ));
    }
    if !principal.may(permission) {
        tracing::info!(target: "security", event = "access.denied", reason = "insufficient_role", role = %principal.role(), ?permission, "refused");
        deny(
            state,
            &own,
            &principal,
            spec,
            req,
            "insufficient_role",
            serde_json::json!({ "role": principal.role() }),
        )
        .await;
        let detail = if principal.is_interactive() {
            format!("Your role ({}) does not allow this.", principal.role())
        } else {
            "This API key's scopes (and its creator's role) do not allow this.".to_owned()
        };
        return Err(ApiError::new(ErrorCode::InsufficientRole, detail));
    }
    Ok(Granted {
        principal,
        scope: own,
        org,
    })
}

fn unreachable_public() -> Permission {
    // Public routes never call the gate; treat a mistake as the most restrictive permission.
    Permission::OwnersManage
}

fn wrong_region(home: Region, here: Region) -> ApiError {
    ApiError::new(
        ErrorCode::WrongRegion,
        format!("Your organisation's data lives in region {home}; this is region {here}."),
    )
    .with("homeRegion", home.as_str())
}

/// Writes an `access.denied` event to the caller's own org trail. A failure is logged, and the
/// request is refused all the same.
async fn deny(
    state: &AppState,
    own: &TenantScope,
    principal: &Principal,
    spec: &RouteSpec,
    req: &Request,
    reason: &str,
    extra: serde_json::Value,
) {
    let mut details = serde_json::json!({ "method": spec.method.as_str(), "route": spec.path });
    if let (Some(d), serde_json::Value::Object(extra)) = (details.as_object_mut(), extra) {
        d.extend(extra);
    }
    let event = AuditEvent {
        action: "access.denied".into(),
        actor: Actor::of(principal),
        resource_type: "route".into(),
        resource_id: format!("{} {}", spec.method, spec.path),
        contract_id: None,
        outcome: Outcome::Denied,
        reason: Some(reason.to_owned()),
        details,
        request_id: Some(req.id.as_str().to_owned()),
        client: req.client.clone(),
    };
    if let Err(e) = state
        .audit
        .append(own, event, OffsetDateTime::now_utc())
        .await
    {
        tracing::error!(error = %e, "could not audit a refused request");
    }
}
