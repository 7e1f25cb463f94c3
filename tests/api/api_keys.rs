//! API key lifecycle: shown once, stored hashed, rotation with grace, immediate revocation, expiry,
//! last use, org binding, and no key management with a key.

use clment_common::TenantScope;
use clment_common::access::Role;
use clment_common::domain::Region;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, audit_events, spawn_app};

#[tokio::test]
async fn create_use_list_and_the_secret_is_shown_once_and_stored_hashed() {
    let app = spawn_app().await;
    let admin = app.token("acme", Role::Admin, &["pwd"], Region::Us);
    let resp = app
        .call(
            "POST",
            "/api/orgs/acme/api-keys",
            &admin,
            Some(json!({ "name": "ci", "scopes": ["search", "contracts:read"] })),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(location, format!("/api/orgs/acme/api-keys/{id}"));
    assert!(secret.starts_with("clm_") && secret.len() == 64 && secret.contains(id));
    assert_eq!(created["scopes"], json!(["contracts:read", "search"]));
    assert_eq!(created["status"], "active");
    // Default expiry: 90 days.
    let created_at = time::OffsetDateTime::parse(
        created["createdAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires_at = time::OffsetDateTime::parse(
        created["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((expires_at - created_at).whole_days(), 90);

    // The key works, as a principal of its org with its creator.
    let me: Value = app.get_as("/api/me", secret).await.json().await.unwrap();
    assert_eq!(me["orgId"], "acme");
    assert_eq!(me["credential"]["kind"], "apiKey");
    assert_eq!(me["credential"]["keyId"], id);

    // Listing never shows the secret; last use is recorded.
    let list: Value = app
        .get_as("/api/orgs/acme/api-keys", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("secret").is_none());
    assert!(list[0]["lastUsedAt"].is_string());
    assert!(!list.to_string().contains(&secret[21..]));

    // Nothing stored holds the secret: only its hash.
    let stored = app
        .state
        .keys
        .find_for_authentication(id)
        .await
        .unwrap()
        .unwrap();
    let dump = serde_json::to_string(&stored).unwrap();
    assert!(!dump.contains(&secret[21..]));
    assert_eq!(
        audit_events(&app, "acme")
            .await
            .iter()
            .filter(|e| e.event.action == "apikey.created")
            .count(),
        1
    );
}

#[tokio::test]
async fn keys_cannot_manage_keys_or_security() {
    let app = spawn_app().await;
    let (id, secret) = app
        .create_key("acme", &["search", "audit:read"], Role::Owner)
        .await;
    let body = json!({ "name": "x", "scopes": ["search"] });
    assert_problem(
        app.call("POST", "/api/orgs/acme/api-keys", &secret, Some(body))
            .await,
        403,
        "interactive_session_required",
    )
    .await;
    assert_problem(
        app.call("GET", "/api/orgs/acme/api-keys", &secret, None)
            .await,
        403,
        "interactive_session_required",
    )
    .await;
    assert_problem(
        app.call(
            "POST",
            &format!("/api/orgs/acme/api-keys/{id}/rotate"),
            &secret,
            None,
        )
        .await,
        403,
        "interactive_session_required",
    )
    .await;
    assert_problem(
        app.call(
            "DELETE",
            &format!("/api/orgs/acme/api-keys/{id}"),
            &secret,
            None,
        )
        .await,
        403,
        "interactive_session_required",
    )
    .await;
    assert_problem(
        app.call("GET", "/api/orgs/acme/security", &secret, None)
            .await,
        403,
        "interactive_session_required",
    )
    .await;
    // Each refusal is in the org's trail, attributed to the key.
    let denied: Vec<_> = audit_events(&app, "acme")
        .await
        .into_iter()
        .filter(|e| e.event.action == "access.denied")
        .collect();
    assert_eq!(denied.len(), 5);
    assert!(denied.iter().all(|e| {
        e.event.reason.as_deref() == Some("interactive_session_required")
            && e.event.actor.id() == id
            && e.event.actor.kind() == "apiKey"
    }));
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_the_grace_period_only() {
    let app = spawn_app().await;
    let admin = app.token("acme", Role::Admin, &["pwd"], Region::Us);
    let (id, old) = app.create_key("acme", &["search"], Role::Admin).await;
    let resp = app
        .call(
            "POST",
            &format!("/api/orgs/acme/api-keys/{id}/rotate"),
            &admin,
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated["id"], id.as_str());
    assert!(rotated["previousSecretValidUntil"].is_string());
    // Default grace: both work.
    assert_eq!(app.get_as("/api/me", &old).await.status(), 200);
    assert_eq!(app.get_as("/api/me", &new).await.status(), 200);

    // Rotating again with no grace retires every earlier secret at once.
    let resp = app
        .call(
            "POST",
            &format!("/api/orgs/acme/api-keys/{id}/rotate"),
            &admin,
            Some(json!({ "graceSeconds": 0 })),
        )
        .await;
    let newest = resp.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(app.get_as("/api/me", &old).await, 401, "unauthenticated").await;
    assert_problem(app.get_as("/api/me", &new).await, 401, "unauthenticated").await;
    assert_eq!(app.get_as("/api/me", &newest).await.status(), 200);

    // Grace above 24 h is refused; unknown fields are refused.
    let resp = app
        .call(
            "POST",
            &format!("/api/orgs/acme/api-keys/{id}/rotate"),
            &admin,
            Some(json!({ "graceSeconds": 86_401 })),
        )
        .await;
    assert_problem(resp, 422, "invalid_request").await;
    let resp = app
        .call(
            "POST",
            &format!("/api/orgs/acme/api-keys/{id}/rotate"),
            &admin,
            Some(json!({ "grace": 5 })),
        )
        .await;
    assert_problem(resp, 400, "malformed_json").await;
}

#[tokio::test]
async fn revocation_is_immediate_and_idempotent() {
    let app = spawn_app().await;
    let admin = app.token("acme", Role::Admin, &["pwd"], Region::Us);
    let (id, secret) = app.create_key("acme", &["search"], Role::Admin).await;
    let rotated: Value = app
        .call(
            "POST",
            &format!("/api/orgs/acme/api-keys/{id}/rotate"),
            &admin,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/orgs/acme/api-keys/{id}"),
            &admin,
            None
        )
        .await
        .status(),
        204
    );
    // Both the current secret and the one in its grace period stop at once.
    assert_problem(app.get_as("/api/me", &secret).await, 401, "unauthenticated").await;
    assert_problem(app.get_as("/api/me", &new).await, 401, "unauthenticated").await;
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/orgs/acme/api-keys/{id}"),
            &admin,
            None
        )
        .await
        .status(),
        204
    );
    let revoked = audit_events(&app, "acme")
        .await
        .iter()
        .filter(|e| e.event.action == "apikey.revoked")
        .count();
    assert_eq!(
        revoked, 1,
        "a repeated revoke changes nothing and writes nothing"
    );
    let list: Value = app
        .get_as("/api/orgs/acme/api-keys", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["status"], "revoked");
    // A revoked key cannot be rotated back to life.
    assert_problem(
        app.call(
            "POST",
            &format!("/api/orgs/acme/api-keys/{id}/rotate"),
            &admin,
            None,
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        app.call(
            "DELETE",
            "/api/orgs/acme/api-keys/ffffffffffffffff",
            &admin,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.call("DELETE", "/api/orgs/acme/api-keys/nothex", &admin, None)
            .await,
        400,
        "invalid_path",
    )
    .await;
}

#[tokio::test]
async fn expired_keys_are_refused() {
    let app = spawn_app().await;
    let (id, secret) = app.create_key("acme", &["search"], Role::Admin).await;
    let scope = TenantScope::for_tests("acme", Region::Us);
    let mut rec = app.state.keys.get(&scope, &id).await.unwrap().unwrap();
    rec.expires_at = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    app.state.keys.replace(&scope, rec).await.unwrap();
    assert_problem(app.get_as("/api/me", &secret).await, 401, "unauthenticated").await;
    let admin = app.token("acme", Role::Admin, &["pwd"], Region::Us);
    let list: Value = app
        .get_as("/api/orgs/acme/api-keys", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["status"], "expired");
}

#[tokio::test]
async fn lifetimes_names_and_scopes_are_validated() {
    let app = spawn_app().await;
    let admin = app.token("acme", Role::Admin, &["pwd"], Region::Us);
    for (body, code, status) in [
        (
            json!({ "name": "x", "scopes": ["search"], "expiresInDays": 366 }),
            "invalid_request",
            422,
        ),
        (
            json!({ "name": "x", "scopes": ["search"], "expiresInDays": 0 }),
            "invalid_request",
            422,
        ),
        (
            json!({ "name": "", "scopes": ["search"] }),
            "invalid_request",
            422,
        ),
        (json!({ "name": "x", "scopes": [] }), "invalid_request", 422),
        (
            json!({ "name": "x", "scopes": ["admin"] }),
            "malformed_json",
            400,
        ),
        (
            json!({ "name": "x", "scopes": ["search"], "owner": true }),
            "malformed_json",
            400,
        ),
    ] {
        assert_problem(
            app.call("POST", "/api/orgs/acme/api-keys", &admin, Some(body))
                .await,
            status,
            code,
        )
        .await;
    }
    let resp = app
        .call(
            "POST",
            "/api/orgs/acme/api-keys",
            &admin,
            Some(json!({ "name": "x", "scopes": ["search"], "expiresInDays": 365 })),
        )
        .await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn keys_are_bound_to_their_org() {
    let app = spawn_app().await;
    let (id, secret) = app.create_key("acme", &["search"], Role::Admin).await;
    assert_problem(
        app.get_as("/api/orgs/globex", &secret).await,
        403,
        "cross_tenant",
    )
    .await;
    // Another org's admin cannot see, rotate or revoke it: it does not exist for them.
    let other = app.token("globex", Role::Owner, &["pwd"], Region::Us);
    assert_problem(
        app.call(
            "DELETE",
            &format!("/api/orgs/globex/api-keys/{id}"),
            &other,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.call(
            "POST",
            &format!("/api/orgs/globex/api-keys/{id}/rotate"),
            &other,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.get_as("/api/me", &secret).await.status(), 200);
    // A key with a forged id part or secret is just invalid.
    let forged = format!(
        "{}{}",
        &secret[..60],
        if secret.ends_with('A') {
            "BBBB"
        } else {
            "AAAA"
        }
    );
    assert_problem(app.get_as("/api/me", &forged).await, 401, "unauthenticated").await;
}
