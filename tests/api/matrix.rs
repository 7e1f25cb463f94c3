//! The security matrix, generated from the route table: every route x every role x own org / other
//! org, with access tokens, plus API keys. Expectations come from the table (`access`, `credentials`,
//! `audit`) and the one permission table; request bodies come from an exhaustive `match`, so a new
//! route without an entry here does not compile.

use clment_common::access::{Permission, Role};
use clment_common::domain::Region;
use clment_common::ports::{Actor, Outcome};
use clment_handler::http::routes::{Access, Credentials, ROUTES, RouteId, RouteSpec};
use serde_json::{Value, json};

use crate::helpers::{Body, TestApp, assert_problem, audit_events, spawn_app, touches};

const OWN: &str = "acme";

/// The actor of every matrix token.
fn user_1() -> Actor {
    Actor::User {
        user_id: "user-1".into(),
        email: Some("user-1@example.com".into()),
    }
}
const OTHER: &str = "globex";

/// The resource type a state-changing route's audit event names; `None` for reads. Exhaustive, so a
/// new route cannot be added without saying whether (and what) it audits.
fn audited_resource(route: RouteId) -> Option<&'static str> {
    match route {
        RouteId::SecurityPut => Some("org"),
        RouteId::ApiKeyCreate | RouteId::ApiKeyRotate | RouteId::ApiKeyRevoke => Some("apikey"),
        RouteId::ContractUpload | RouteId::ContractRename | RouteId::ContractDelete => {
            Some("contract")
        }
        RouteId::ReviewCreate | RouteId::ReviewDelete => Some("review"),
        RouteId::Health
        | RouteId::OpenApi
        | RouteId::Me
        | RouteId::Org
        | RouteId::SecurityGet
        | RouteId::ApiKeyList
        | RouteId::ContractList
        | RouteId::ContractGet
        | RouteId::ContractContent
        | RouteId::ContractActivity
        | RouteId::ReviewList
        | RouteId::ReviewGet
        | RouteId::Search
        | RouteId::AuditExport
        | RouteId::AuditVerify
        | RouteId::AuditDigests
        | RouteId::Usage
        | RouteId::OperatorUsage => None,
    }
}

#[test]
fn every_state_changing_route_has_an_audit_expectation() {
    for spec in ROUTES {
        assert_eq!(
            spec.audit.is_some(),
            audited_resource(spec.id).is_some(),
            "{} {}: the route table and the audit expectations disagree",
            spec.method,
            spec.path
        );
    }
}

/// What to send to a route: the path parameters and body a successful call needs.
async fn request_for(app: &TestApp, route: RouteId, org: &str) -> (String, Body) {
    // A fresh key in the caller's own org for rotate/revoke (in the other org, a plausible id).
    let key_id = if org == OWN && matches!(route, RouteId::ApiKeyRotate | RouteId::ApiKeyRevoke) {
        app.create_key(OWN, &["search"], Role::Owner).await.0
    } else {
        "0123456789abcdef".to_owned()
    };
    // A fresh contract in the caller's own org for the routes that need one.
    let contract = if org == OWN
        && matches!(
            route,
            RouteId::ContractGet
                | RouteId::ContractContent
                | RouteId::ContractRename
                | RouteId::ContractDelete
                | RouteId::ContractActivity
                | RouteId::ReviewCreate
                | RouteId::ReviewList
                | RouteId::ReviewGet
                | RouteId::ReviewDelete
        ) {
        app.upload_text(OWN, "This Agreement is made between the parties.")
            .await
    } else {
        "0190f0a0-0000-7000-8000-000000000000".to_owned()
    };
    let contract_path = format!("/api/orgs/{org}/contracts/{contract}");
    // A review of that contract for the routes that read or delete one.
    let review = if org == OWN && matches!(route, RouteId::ReviewGet | RouteId::ReviewDelete) {
        app.request_review(OWN, &contract).await
    } else {
        "0190f0a0-0000-7000-8000-0000000000ee".to_owned()
    };
    let (path, body) = match route {
        RouteId::Health => ("/api/health".into(), None),
        RouteId::OpenApi => ("/api/openapi.json".into(), None),
        RouteId::Me => ("/api/me".into(), None),
        RouteId::Org => (format!("/api/orgs/{org}"), None),
        RouteId::SecurityGet => (format!("/api/orgs/{org}/security"), None),
        RouteId::SecurityPut => (
            format!("/api/orgs/{org}/security"),
            Some(json!({ "allowedSignInMethods": ["password", "sso"], "requireMfa": false })),
        ),
        RouteId::ApiKeyCreate => (
            format!("/api/orgs/{org}/api-keys"),
            Some(json!({ "name": "m", "scopes": ["search"] })),
        ),
        RouteId::ApiKeyList => (format!("/api/orgs/{org}/api-keys"), None),
        RouteId::ApiKeyRotate => (format!("/api/orgs/{org}/api-keys/{key_id}/rotate"), None),
        RouteId::ApiKeyRevoke => (format!("/api/orgs/{org}/api-keys/{key_id}"), None),
        RouteId::ContractUpload => {
            let file = Body::File(
                b"A short agreement.".to_vec(),
                "text/plain",
                Some("a.txt".into()),
            );
            return (format!("/api/orgs/{org}/contracts"), file);
        }
        RouteId::ContractList => (format!("/api/orgs/{org}/contracts"), None),
        RouteId::ContractGet => (contract_path, None),
        RouteId::ContractContent => (format!("{contract_path}/content"), None),
        RouteId::ContractRename => (contract_path, Some(json!({ "title": "Renamed" }))),
        RouteId::ContractDelete => (contract_path, None),
        RouteId::ContractActivity => (format!("{contract_path}/activity"), None),
        RouteId::ReviewCreate => (
            format!("{contract_path}/reviews"),
            Some(json!({ "categories": ["governing-law"] })),
        ),
        RouteId::ReviewList => (format!("{contract_path}/reviews"), None),
        RouteId::ReviewGet => (format!("{contract_path}/reviews/{review}"), None),
        RouteId::ReviewDelete => (format!("{contract_path}/reviews/{review}"), None),
        RouteId::Search => (format!("/api/orgs/{org}/search?q=termination"), None),
        RouteId::AuditExport => (format!("/api/orgs/{org}/audit?format=ndjson"), None),
        RouteId::AuditVerify => (format!("/api/orgs/{org}/audit/verify"), None),
        RouteId::AuditDigests => (format!("/api/orgs/{org}/audit/digests"), None),
        RouteId::Usage => (format!("/api/orgs/{org}/usage"), None),
        // Not a tenant route: the org plays no part.
        RouteId::OperatorUsage => ("/api/operator/usage".to_owned(), None),
    };
    (path, body.map_or(Body::None, Body::Json))
}

fn permission(spec: &RouteSpec) -> Option<Permission> {
    match spec.access {
        Access::Public | Access::Operator => None,
        Access::Principal(p) | Access::Tenant(p) => Some(p),
    }
}

#[tokio::test]
async fn every_route_x_every_role_x_own_and_other_org() {
    let app = spawn_app().await;
    let mut failures = Vec::new();
    for spec in ROUTES {
        for role in Role::ALL {
            for org in [OWN, OTHER] {
                if org == OTHER && !matches!(spec.access, Access::Tenant(_)) {
                    continue;
                }
                let label = format!("{} {} as {role} for {org}", spec.method, spec.path);
                let (path, body) = request_for(&app, spec.id, org).await;
                let token = app.token(OWN, role, &["pwd", "mfa"], Region::Us);
                let events_before = audit_events(&app, OWN).await.len();
                let resp = app.send(spec.method.as_str(), &path, &token, body).await;
                let status = resp.status().as_u16();
                let request_id = resp
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let reply = resp.json::<Value>().await.ok();
                let code = reply
                    .as_ref()
                    .and_then(|v| v["code"].as_str().map(str::to_owned));
                let body_id = reply
                    .as_ref()
                    .and_then(|v| v["id"].as_str().map(str::to_owned));
                let new_events = audit_events(&app, OWN).await[events_before..].to_vec();

                // Operator routes take operator tokens only: any tenant token is no credential.
                if spec.access == Access::Operator {
                    if status != 401 || code.as_deref() != Some("unauthenticated") {
                        failures.push(format!(
                            "{label}: expected 401 unauthenticated, got {status} {code:?}"
                        ));
                    }
                    if !new_events.is_empty() {
                        failures.push(format!("{label}: wrote audit events {new_events:?}"));
                    }
                    continue;
                }

                let expected_denial = match (spec.access, permission(spec)) {
                    (Access::Public, _) => None,
                    (Access::Tenant(_), _) if org == OTHER => Some("cross_tenant"),
                    (_, Some(p)) if !role.allows(p) => Some("insufficient_role"),
                    _ => None,
                };
                let request_id = request_id.as_deref().unwrap_or_default();
                match expected_denial {
                    Some(denial) => {
                        if status != 403 || code.as_deref() != Some(denial) {
                            failures.push(format!(
                                "{label}: expected 403 {denial}, got {status} {code:?}"
                            ));
                        }
                        match new_events.as_slice() {
                            [e] if e.event.action == "access.denied"
                                && e.event.outcome == Outcome::Denied
                                && e.event.reason.as_deref() == Some(denial)
                                && e.event.actor == user_1()
                                && e.event.resource_type == "route"
                                && e.event.request_id.as_deref() == Some(request_id)
                                && e.event.client.address.as_deref() == Some("127.0.0.1") => {}
                            _ => failures.push(format!(
                                "{label}: expected exactly one access.denied ({denial}) event, got {new_events:?}"
                            )),
                        }
                    }
                    None => {
                        if !(200..300).contains(&status) {
                            failures
                                .push(format!("{label}: expected success, got {status} {code:?}"));
                        }
                        match (spec.audit, audited_resource(spec.id)) {
                            (Some(action), Some(resource_type)) => match new_events.as_slice() {
                                [e] if e.event.action == action
                                    && e.event.outcome == Outcome::Success
                                    && e.event.actor == user_1()
                                    && e.event.resource_type == resource_type
                                    && !e.event.resource_id.is_empty()
                                    && (path.contains(&e.event.resource_id)
                                        || body_id.as_deref() == Some(e.event.resource_id.as_str()))
                                    && (resource_type != "contract"
                                        || e.event.contract_id.as_deref()
                                            == Some(e.event.resource_id.as_str()))
                                    && e.event.request_id.as_deref() == Some(request_id) => {}
                                _ => failures.push(format!(
                                    "{label}: expected exactly one {action} event on a {resource_type}, got {new_events:?}"
                                )),
                            },
                            (None, None) if !new_events.is_empty() => {
                                failures.push(format!(
                                    "{label}: a read wrote audit events {new_events:?}"
                                ));
                            }
                            (None, None) => {}
                            _ => failures.push(format!(
                                "{label}: the route table and the audit expectations disagree"
                            )),
                        }
                    }
                }
            }
        }
    }
    // The other org was never created, read or written, by any request above.
    assert_eq!(
        touches(&app, OTHER),
        0,
        "cross-tenant requests touched the other org's data"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The same routes with an API key holding every scope: interactive-only routes refuse it; the rest
/// are limited to scope x creator role.
#[tokio::test]
async fn every_route_with_an_api_key() {
    let app = spawn_app().await;
    let (_, secret) = app
        .create_key(
            OWN,
            &[
                "contracts:read",
                "contracts:write",
                "reviews:run",
                "search",
                "audit:read",
                "usage:read",
            ],
            Role::Admin,
        )
        .await;
    for spec in ROUTES {
        if spec.access == Access::Public {
            continue;
        }
        let (path, body) = request_for(&app, spec.id, OWN).await;
        let resp = app.send(spec.method.as_str(), &path, &secret, body).await;
        let label = format!("{} {}", spec.method, spec.path);
        if spec.access == Access::Operator {
            assert_problem(resp, 401, "unauthenticated").await;
            continue;
        }
        if spec.credentials == Credentials::InteractiveOnly {
            assert_problem(resp, 403, "interactive_session_required").await;
        } else {
            assert!(resp.status().is_success(), "{label}: {}", resp.status());
        }
        let (other_path, other_body) = request_for(&app, spec.id, OTHER).await;
        if matches!(spec.access, Access::Tenant(_)) {
            let resp = app
                .send(spec.method.as_str(), &other_path, &secret, other_body)
                .await;
            assert_problem(resp, 403, "cross_tenant").await;
        }
    }
    assert_eq!(touches(&app, OTHER), 0);
}

/// 421 before storage: a principal of an org homed elsewhere never touches this region's data.
#[tokio::test]
async fn other_region_principals_are_misdirected_before_any_storage() {
    let app = spawn_app().await;
    for spec in ROUTES
        .iter()
        .filter(|s| !matches!(s.access, Access::Public | Access::Operator))
    {
        let (path, body) = request_for(&app, spec.id, "euorg").await;
        let token = app.token("euorg", Role::Owner, &["pwd", "mfa"], Region::Eu);
        let body = assert_problem(
            app.send(spec.method.as_str(), &path, &token, body).await,
            421,
            "wrong_region",
        )
        .await;
        assert_eq!(body["homeRegion"], "eu");
    }
    assert_eq!(touches(&app, "euorg"), 0);
}
