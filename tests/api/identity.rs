//! The dev issuer's tokens against `/api/me`; the full token attack matrix lives in
//! handlers/common/tests/token_attacks.rs. Here: the HTTP contract (401 + WWW-Authenticate, 421).

use clment_common::access::Role;
use clment_common::domain::Region;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn a_dev_token_is_accepted_and_describes_the_caller() {
    let app = spawn_app().await;
    let token = app.token("acme", Role::Admin, &["pwd", "mfa"], Region::Us);
    let resp = app.get_as("/api/me", &token).await;
    assert_eq!(resp.status(), 200);
    let me: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(me["orgId"], "acme");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["homeRegion"], "us");
    assert_eq!(me["signIn"]["secondFactor"], true);
    assert_eq!(me["credential"]["kind"], "accessToken");
}

#[tokio::test]
async fn missing_or_bad_credentials_are_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let resp = app.get("/api/me").await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"clment\""
    );
    assert_problem(resp, 401, "unauthenticated").await;
    for header in [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not.a.jwt",
        "bearer x",
    ] {
        let resp = app
            .client
            .get(app.url("/api/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer realm=\"clment\", error=\"invalid_token\"",
            "{header}"
        );
        let body = assert_problem(resp, 401, "unauthenticated").await;
        assert_eq!(body["detail"], "The credential is not valid.");
    }
}

#[tokio::test]
async fn an_org_from_another_region_is_misdirected_with_its_home_region() {
    let app = spawn_app().await;
    let token = app.token("acme", Role::Owner, &["pwd"], Region::Eu);
    let body = assert_problem(app.get_as("/api/me", &token).await, 421, "wrong_region").await;
    assert_eq!(body["homeRegion"], "eu");
}
