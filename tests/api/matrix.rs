//! The security matrix, generated from the route table: every route x every role x own org / other
//! org, with access tokens, plus API keys. Expectations come from the table (`access`, `credentials`,
//! `audit`) and the one permission table; request bodies come from an exhaustive `match`, so a new
//! route without an entry here does not compile.

use clment_common::access::{Permission, Role};
use clment_common::domain::Region;
use clment_handler::http::routes::{Access, Credentials, ROUTES, RouteId, RouteSpec};
use serde_json::{Value, json};

use crate::helpers::{Body, TestApp, assert_problem, audit_events, spawn_app, touches};

const OWN: &str = "acme";
const OTHER: &str = "globex";

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
        ) {
        app.upload_text(OWN, "This Agreement is made between the parties.")
            .await
    } else {
        "0190f0a0-0000-7000-8000-000000000000".to_owned()
    };
    let contract_path = format!("/api/orgs/{org}/contracts/{contract}");
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
    };
    (path, body.map_or(Body::None, Body::Json))
}

fn permission(spec: &RouteSpec) -> Option<Permission> {
    match spec.access {
        Access::Public => None,
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
                let code = resp
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["code"].as_str().map(str::to_owned));
                let new_events = audit_events(&app, OWN).await[events_before..].to_vec();

                let expected_denial = match (spec.access, permission(spec)) {
                    (Access::Public, _) => None,
                    (Access::Tenant(_), _) if org == OTHER => Some("cross_tenant"),
                    (_, Some(p)) if !role.allows(p) => Some("insufficient_role"),
                    _ => None,
                };
                match expected_denial {
                    Some(denial) => {
                        if status != 403 || code.as_deref() != Some(denial) {
                            failures.push(format!(
                                "{label}: expected 403 {denial}, got {status} {code:?}"
                            ));
                        }
                        let denied: Vec<_> = new_events
                            .iter()
                            .filter(|e| e.event.action == "access.denied")
                            .collect();
                        if denied.len() != 1 || new_events.len() != 1 {
                            failures.push(format!("{label}: expected exactly one access.denied event, got {new_events:?}"));
                        } else if denied[0].event.details["reason"] != denial {
                            failures.push(format!(
                                "{label}: denial reason {}",
                                denied[0].event.details["reason"]
                            ));
                        }
                    }
                    None => {
                        if !(200..300).contains(&status) {
                            failures
                                .push(format!("{label}: expected success, got {status} {code:?}"));
                        }
                        let writes: Vec<_> = new_events
                            .iter()
                            .filter(|e| e.event.action != "access.denied")
                            .collect();
                        match spec.audit {
                            Some(action) => {
                                // Setup calls (creating a key to rotate) write their own events first.
                                if writes.last().map(|e| e.event.action.as_str()) != Some(action) {
                                    failures.push(format!(
                                        "{label}: expected a {action} event, got {new_events:?}"
                                    ));
                                } else if writes.last().unwrap().event.actor.user_id != "user-1" {
                                    failures.push(format!("{label}: wrong actor"));
                                }
                            }
                            None if !new_events.is_empty() => {
                                failures.push(format!(
                                    "{label}: a read wrote audit events {new_events:?}"
                                ));
                            }
                            None => {}
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
    for spec in ROUTES.iter().filter(|s| s.access != Access::Public) {
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
