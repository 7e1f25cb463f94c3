//! Org sign-in policy: SSO-only, MFA required (paid plan), enforced on every request, audited.

use clment_common::TenantScope;
use clment_common::access::Role;
use clment_common::domain::Region;
use clment_common::ports::Plan;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, audit_events, spawn_app};

async fn make_paid(app: &TestApp, org: &str) {
    let scope = TenantScope::for_tests(org, Region::Us);
    app.state
        .orgs
        .get_or_create(&scope, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    app.state
        .orgs
        .set_plan(&scope, Plan::Paid, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
}

#[tokio::test]
async fn requiring_mfa_needs_the_paid_plan_and_then_refuses_password_only_sessions() {
    let app = spawn_app().await;
    let admin_mfa = app.token("acme", Role::Admin, &["pwd", "mfa"], Region::Us);
    let policy = json!({ "allowedSignInMethods": ["password", "sso"], "requireMfa": true });
    assert_problem(
        app.call(
            "PUT",
            "/api/orgs/acme/security",
            &admin_mfa,
            Some(policy.clone()),
        )
        .await,
        403,
        "plan_upgrade_required",
    )
    .await;

    make_paid(&app, "acme").await;
    let resp = app
        .call("PUT", "/api/orgs/acme/security", &admin_mfa, Some(policy))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["requireMfa"], true);

    let pwd_only = app.token("acme", Role::Viewer, &["pwd"], Region::Us);
    assert_problem(app.get_as("/api/me", &pwd_only).await, 403, "mfa_required").await;
    assert_problem(
        app.get_as("/api/orgs/acme", &pwd_only).await,
        403,
        "mfa_required",
    )
    .await;
    assert_eq!(
        app.get_as(
            "/api/me",
            &app.token("acme", Role::Viewer, &["pwd", "otp"], Region::Us)
        )
        .await
        .status(),
        200
    );
    // SSO sessions are exempt from the MFA rule.
    assert_eq!(
        app.get_as(
            "/api/me",
            &app.token("acme", Role::Viewer, &["external"], Region::Us)
        )
        .await
        .status(),
        200
    );
    // Other orgs are unaffected.
    assert_eq!(
        app.get_as(
            "/api/me",
            &app.token("globex", Role::Viewer, &["pwd"], Region::Us)
        )
        .await
        .status(),
        200
    );

    let denied = audit_events(&app, "acme")
        .await
        .into_iter()
        .filter(|e| e.event.reason.as_deref() == Some("mfa_required"))
        .count();
    assert_eq!(denied, 2);
}

#[tokio::test]
async fn sso_only_refuses_password_sessions_and_cannot_lock_out_its_author() {
    let app = spawn_app().await;
    let sso_only = json!({ "allowedSignInMethods": ["sso"], "requireMfa": false });
    // A password session cannot switch the org to SSO-only: it would lock itself out.
    let pwd_admin = app.token("acme", Role::Admin, &["pwd", "mfa"], Region::Us);
    assert_problem(
        app.call(
            "PUT",
            "/api/orgs/acme/security",
            &pwd_admin,
            Some(sso_only.clone()),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    let sso_admin = app.token("acme", Role::Admin, &["external"], Region::Us);
    assert_eq!(
        app.call("PUT", "/api/orgs/acme/security", &sso_admin, Some(sso_only))
            .await
            .status(),
        200
    );

    assert_problem(app.get_as("/api/me", &pwd_admin).await, 403, "sso_required").await;
    assert_eq!(
        app.get_as("/api/orgs/acme/security", &sso_admin)
            .await
            .status(),
        200
    );

    // The change is audited with before and after.
    let events = audit_events(&app, "acme").await;
    let change = events
        .iter()
        .find(|e| e.event.action == "security.updated")
        .unwrap();
    assert_eq!(
        change.event.details["before"]["allowedSignInMethods"],
        json!(["password", "sso"])
    );
    assert_eq!(
        change.event.details["after"]["allowedSignInMethods"],
        json!(["sso"])
    );
    assert_eq!(
        (change.event.actor.kind(), change.event.actor.id()),
        ("user", "user-1")
    );
}

#[tokio::test]
async fn api_keys_are_exempt_from_the_session_policy() {
    let app = spawn_app().await;
    let (_, secret) = app.create_key("acme", &["search"], Role::Admin).await;
    let sso_admin = app.token("acme", Role::Admin, &["external"], Region::Us);
    let resp = app
        .call(
            "PUT",
            "/api/orgs/acme/security",
            &sso_admin,
            Some(json!({ "allowedSignInMethods": ["sso"], "requireMfa": false })),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.get_as("/api/me", &secret).await.status(), 200);
}

#[tokio::test]
async fn invalid_policies_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.token("acme", Role::Admin, &["pwd"], Region::Us);
    for (body, status, code) in [
        (
            json!({ "allowedSignInMethods": [], "requireMfa": false }),
            422,
            "invalid_request",
        ),
        (
            json!({ "allowedSignInMethods": ["magic-link"], "requireMfa": false }),
            400,
            "malformed_json",
        ),
        (
            json!({ "allowedSignInMethods": ["sso"] }),
            400,
            "malformed_json",
        ),
        (
            json!({ "allowedSignInMethods": ["sso"], "requireMfa": false, "x": 1 }),
            400,
            "malformed_json",
        ),
    ] {
        assert_problem(
            app.call("PUT", "/api/orgs/acme/security", &admin, Some(body))
                .await,
            status,
            code,
        )
        .await;
    }
    let resp = app
        .client
        .put(app.url("/api/orgs/acme/security"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415, "unsupported_media_type").await;
    let resp = app
        .client
        .put(app.url("/api/orgs/acme/security"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(vec![b' '; 70_000])
        .send()
        .await
        .unwrap();
    assert_problem(resp, 413, "payload_too_large").await;
    let now: Value = app
        .get_as("/api/orgs/acme/security", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["allowedSignInMethods"], json!(["password", "sso"]));
    assert!(
        audit_events(&app, "acme")
            .await
            .iter()
            .all(|e| e.event.action != "security.updated")
    );
}
