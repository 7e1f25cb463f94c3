//! API keys: an org's machine credentials, managed only from interactive sessions.

use clment_common::access::{ApiScope, Permission};
use clment_common::auth::api_key;
use clment_common::ports::{ApiKeyRecord, PortError, StoredSecret};
use clment_common::problem::ErrorCode;
use http::StatusCode;
use http::header::{self, HeaderValue};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use warp::reply::Response;

use crate::http::Ctx;
use crate::http::body::{is_json, parse_json, read_json, read_limited};
use crate::http::reply::{self, ApiError};

const PROBLEM: &str = "application/problem+json";
/// Default and longest lifetime.
const DEFAULT_DAYS: u32 = 90;
const MAX_DAYS: u32 = 365;
/// Default and longest rotation grace.
const DEFAULT_GRACE_SECS: u32 = 3600;
const MAX_GRACE_SECS: u32 = 86_400;

/// A new key's description.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKey {
    /// A label, 1 to 100 characters.
    pub name: String,
    /// At least one scope.
    pub scopes: Vec<ApiScope>,
    /// Lifetime in days (1 to 365, default 90).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// Rotation options.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateKey {
    /// How long the previous secret keeps working (0 to 86400 s, default 3600).
    #[serde(default)]
    pub grace_seconds: Option<u32>,
}

/// A key as listed: never its secret or hash.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    id: String,
    name: String,
    scopes: Vec<ApiScope>,
    created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    revoked_at: Option<OffsetDateTime>,
    /// `active`, `expired` or `revoked`.
    status: &'static str,
    /// When a rotated-out secret stops working, while one is in its grace period.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    previous_secret_valid_until: Option<OffsetDateTime>,
}

/// A key with its secret: answered exactly once, at creation or rotation.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyWithSecret {
    #[serde(flatten)]
    key: KeyView,
    /// The whole key. It is not stored and cannot be shown again.
    secret: String,
}

fn view(k: &ApiKeyRecord, now: OffsetDateTime) -> KeyView {
    KeyView {
        id: k.id.clone(),
        name: k.name.clone(),
        scopes: k.scopes.clone(),
        created_by: k.created_by.as_str().to_owned(),
        created_at: k.created_at,
        expires_at: k.expires_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
        status: if k.revoked_at.is_some() {
            "revoked"
        } else if k.expires_at <= now {
            "expired"
        } else {
            "active"
        },
        previous_secret_valid_until: k
            .secrets
            .iter()
            .filter_map(|s| s.retires_at)
            .filter(|t| *t > now)
            .max(),
    }
}

fn key_id(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let id = ctx.req.params.get("keyId").unwrap_or_default();
    if id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(id.to_owned())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidPath,
            "keyId: must be 16 lowercase hex digits.",
        ))
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "No API key with this id in your organisation.",
    )
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Creates a key. Its rights are its scopes intersected with the creator's role.
#[utoipa::path(
    post, path = "/api/orgs/{orgId}/api-keys", tag = "api-keys",
    params(("orgId" = String, Path, description = "The caller's organisation id")),
    request_body = CreateKey,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The key, with its secret shown this once", body = KeyWithSecret),
        (status = 403, description = "Not an admin, or an API key", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid name, scopes or lifetime", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn create(ctx: Ctx<'_>) -> Result<Response, ApiError> {
    let body = ctx.req.take_body();
    let req: CreateKey =
        read_json(&ctx.req.headers, body, ctx.state.settings.max_json_bytes).await?;
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "name: 1 to 100 characters, no control characters.",
        ));
    }
    let mut scopes = req.scopes;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "scopes: name at least one scope.",
        ));
    }
    let role = ctx.granted.principal.role();
    if let Some(s) = scopes.iter().find(|s| {
        !Permission::ALL
            .iter()
            .any(|p| *p != Permission::ProfileRead && s.covers(*p) && role.allows(*p))
    }) {
        let name = serde_json::to_value(s).unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("scopes: your role ({role}) cannot grant {name}."),
        ));
    }
    let days = req.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("expiresInDays: 1 to {MAX_DAYS}."),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let new = api_key::generate();
    let record = ApiKeyRecord {
        id: new.id.clone(),
        org: ctx.granted.scope.org().clone(),
        name,
        scopes,
        created_by: ctx.granted.principal.user_id().clone(),
        creator_role: role,
        created_at: now,
        expires_at: now + Duration::days(i64::from(days)),
        last_used_at: None,
        revoked_at: None,
        secrets: vec![StoredSecret {
            hash: new.hash,
            created_at: now,
            retires_at: None,
        }],
    };
    ctx.state
        .keys
        .insert(&ctx.granted.scope, record.clone())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let details = serde_json::json!({ "name": record.name, "scopes": record.scopes, "expiresAt": record.expires_at.unix_timestamp() });
    if let Err(e) = ctx.audit("apikey", &record.id, None, details).await {
        let mut undo = record.clone();
        undo.revoked_at = Some(now);
        let _ = ctx.state.keys.replace(&ctx.granted.scope, undo).await;
        return Err(ApiError::internal(&e));
    }
    let mut resp = reply::json(
        StatusCode::CREATED,
        &KeyWithSecret {
            key: view(&record, now),
            secret: new.plain.expose_secret().to_owned(),
        },
    );
    if let Ok(v) =
        HeaderValue::from_str(&format!("/api/orgs/{}/api-keys/{}", record.org, record.id))
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(no_store(resp))
}

/// The org's keys, newest first (no secrets).
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/api-keys", tag = "api-keys",
    params(("orgId" = String, Path, description = "The caller's organisation id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The keys", body = Vec<KeyView>))
)]
/// # Errors
/// 500 when the store fails.
pub async fn list(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let keys = ctx
        .state
        .keys
        .list(&ctx.granted.scope)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(reply::json(
        StatusCode::OK,
        &keys.iter().map(|k| view(k, now)).collect::<Vec<_>>(),
    ))
}

/// Issues a new secret; the previous one keeps working for the grace period.
#[utoipa::path(
    post, path = "/api/orgs/{orgId}/api-keys/{keyId}/rotate", tag = "api-keys",
    params(("orgId" = String, Path, description = "The caller's organisation id"), ("keyId" = String, Path, description = "The key id")),
    request_body(content = RotateKey, description = "Optional; an empty body uses the defaults"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key with its new secret, shown this once", body = KeyWithSecret),
        (status = 404, description = "No such key in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 409, description = "The key is revoked or expired", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn rotate(ctx: Ctx<'_>) -> Result<Response, ApiError> {
    let id = key_id(&ctx)?;
    let body = ctx.req.take_body();
    let raw = read_limited(&ctx.req.headers, body, ctx.state.settings.max_json_bytes).await?;
    let opts: RotateKey = if raw.iter().all(u8::is_ascii_whitespace) {
        RotateKey::default()
    } else if is_json(&ctx.req.headers) {
        parse_json(&raw)?
    } else {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send the options as application/json, or no body.",
        ));
    };
    let grace = opts.grace_seconds.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("graceSeconds: 0 to {MAX_GRACE_SECS}."),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let mut key = ctx
        .state
        .keys
        .get(&ctx.granted.scope, &id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(not_found)?;
    if !api_key::is_live(&key, now) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "A revoked or expired key cannot be rotated; create a new one.",
        ));
    }
    let before = key.clone();
    let retire_at = now + Duration::seconds(i64::from(grace));
    key.secrets.retain(|s| s.retires_at.is_none_or(|t| t > now));
    for s in &mut key.secrets {
        s.retires_at = Some(s.retires_at.map_or(retire_at, |t| t.min(retire_at)));
    }
    let new = api_key::generate_secret_for(&key.id);
    key.secrets.push(StoredSecret {
        hash: new.hash,
        created_at: now,
        retires_at: None,
    });
    ctx.state
        .keys
        .replace(&ctx.granted.scope, key.clone())
        .await
        .map_err(|e| match e {
            PortError::NotFound => not_found(),
            e => ApiError::internal(&e),
        })?;
    if let Err(e) = ctx
        .audit(
            "apikey",
            &key.id,
            None,
            serde_json::json!({ "graceSeconds": grace }),
        )
        .await
    {
        let _ = ctx.state.keys.replace(&ctx.granted.scope, before).await;
        return Err(ApiError::internal(&e));
    }
    Ok(no_store(reply::json(
        StatusCode::OK,
        &KeyWithSecret {
            key: view(&key, now),
            secret: new.plain.expose_secret().to_owned(),
        },
    )))
}

/// Revokes a key immediately, all its secrets included. Idempotent.
#[utoipa::path(
    delete, path = "/api/orgs/{orgId}/api-keys/{keyId}", tag = "api-keys",
    params(("orgId" = String, Path, description = "The caller's organisation id"), ("keyId" = String, Path, description = "The key id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 404, description = "No such key in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn revoke(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let id = key_id(ctx)?;
    let mut key = ctx
        .state
        .keys
        .get(&ctx.granted.scope, &id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(not_found)?;
    if key.revoked_at.is_none() {
        let before = key.clone();
        key.revoked_at = Some(OffsetDateTime::now_utc());
        ctx.state
            .keys
            .replace(&ctx.granted.scope, key.clone())
            .await
            .map_err(|e| ApiError::internal(&e))?;
        if let Err(e) = ctx
            .audit("apikey", &key.id, None, serde_json::json!({}))
            .await
        {
            let _ = ctx.state.keys.replace(&ctx.granted.scope, before).await;
            return Err(ApiError::internal(&e));
        }
    }
    Ok(reply::empty(StatusCode::NO_CONTENT))
}
