//! Usage aggregates: an org's own, and every org of the region for operators. Counts, bytes and
//! tokens only: a canary planted in a contract's name and text never appears in either answer.

use std::time::{Duration, Instant};

use clment_common::access::Role;
use clment_common::domain::Region;
use serde_json::Value;

use crate::helpers::{Body, TestApp, assert_problem, spawn_indexing};

const CANARY: &str = "CANARY-usage-7f3c";

fn admin(app: &TestApp, org: &str) -> String {
    app.token(org, Role::Admin, &["pwd", "mfa"], Region::Us)
}

/// Uploads `text` with a file name holding the canary; returns (id, size).
async fn upload(app: &TestApp, org: &str, text: &str) -> (String, u64) {
    let resp = app
        .send(
            "POST",
            &format!("/api/orgs/{org}/contracts"),
            &admin(app, org),
            Body::File(
                text.as_bytes().to_vec(),
                "text/plain",
                Some(format!("{CANARY}.txt")),
            ),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.unwrap();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["size"].as_u64().unwrap(),
    )
}

async fn review_ends(app: &TestApp, org: &str, contract: &str, review: &str) {
    let until = Instant::now() + Duration::from_secs(60);
    let path = format!("/api/orgs/{org}/contracts/{contract}/reviews/{review}");
    loop {
        let r: Value = app
            .get_as(&path, &admin(app, org))
            .await
            .json()
            .await
            .unwrap();
        match r["status"].as_str() {
            Some("completed") => return,
            Some("failed") => panic!("review failed: {r}"),
            _ if Instant::now() > until => panic!("review did not end: {r}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn text(n: usize) -> String {
    format!(
        "MASTER SERVICES AGREEMENT {CANARY}\n\n1. TERM. This Agreement runs for {n} years from the Effective Date.\n\
         2. GOVERNING LAW. This Agreement is governed by the laws of the State of New York.\n"
    )
    .repeat(20)
}

#[tokio::test]
async fn orgs_see_their_own_usage_and_operators_the_region_s_without_contract_data() {
    let app = spawn_indexing().await;
    let (a1, s1) = upload(&app, "acme", &text(3)).await;
    let (_a2, s2) = upload(&app, "acme", &text(5)).await;
    let (_g1, s3) = upload(&app, "globex", &text(2)).await;
    let review = app.request_review("acme", &a1).await;
    review_ends(&app, "acme", &a1, &review).await;

    // The org's own usage.
    let resp = app
        .get_as("/api/orgs/acme/usage", &admin(&app, "acme"))
        .await;
    assert_eq!(resp.status(), 200);
    let raw = resp.text().await.unwrap();
    assert!(!raw.contains(CANARY), "contract data in the usage: {raw}");
    assert!(!raw.contains(&a1), "contract ids in the usage: {raw}");
    let u: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(u["orgId"], "acme");
    assert_eq!(u["region"], "us");
    assert_eq!(u["contracts"]["count"], 2);
    assert_eq!(u["contracts"]["bytes"], s1 + s2);
    assert_eq!(u["reviews"]["count"], 1);
    assert_eq!(u["reviews"]["completed"], 1);
    // The offline provider calls no model.
    assert_eq!(u["reviews"]["modelCalls"], 0);
    assert_eq!(u["reviews"]["promptTokens"], 0);

    // Keys need `usage:read` (and an admin creator); members do not see usage.
    let (_, with) = app.create_key("acme", &["usage:read"], Role::Admin).await;
    assert_eq!(
        app.get_as("/api/orgs/acme/usage", &with).await.status(),
        200
    );
    let (_, without) = app
        .create_key("acme", &["contracts:read"], Role::Admin)
        .await;
    assert_problem(
        app.get_as("/api/orgs/acme/usage", &without).await,
        403,
        "insufficient_role",
    )
    .await;
    let member = app.token("acme", Role::Member, &["pwd", "mfa"], Region::Us);
    assert_problem(
        app.get_as("/api/orgs/acme/usage", &member).await,
        403,
        "insufficient_role",
    )
    .await;
    assert_problem(
        app.get_as("/api/orgs/acme/usage?x=1", &admin(&app, "acme"))
            .await,
        400,
        "invalid_query",
    )
    .await;

    // The region, for an operator: every org, in id order, aggregates only.
    let op = app.operator_token();
    let resp = app.get_as("/api/operator/usage", &op).await;
    assert_eq!(resp.status(), 200);
    let raw = resp.text().await.unwrap();
    assert!(
        !raw.contains(CANARY),
        "contract data in the region usage: {raw}"
    );
    let r: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(r["region"], "us");
    assert!(r.get("continuation").is_none());
    let orgs = r["orgs"].as_array().unwrap();
    let ids: Vec<&str> = orgs.iter().map(|o| o["orgId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["acme", "globex"]);
    assert_eq!(orgs[0]["contracts"], u["contracts"]);
    assert_eq!(orgs[0]["reviews"], u["reviews"]);
    assert_eq!(orgs[1]["contracts"]["count"], 1);
    assert_eq!(orgs[1]["contracts"]["bytes"], s3);
    assert_eq!(orgs[1]["reviews"]["count"], 0);

    // Paging.
    let p1: Value = app
        .get_as("/api/operator/usage?limit=1", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p1["orgs"].as_array().unwrap().len(), 1);
    assert_eq!(p1["orgs"][0]["orgId"], "acme");
    let next = p1["continuation"].as_str().unwrap();
    let p2: Value = app
        .get_as(
            &format!("/api/operator/usage?limit=1&continuation={next}"),
            &op,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p2["orgs"][0]["orgId"], "globex");
    assert!(p2.get("continuation").is_none(), "{p2}");
    for bad in ["limit=0", "limit=501", "continuation=%21%21", "org=acme"] {
        assert_problem(
            app.get_as(&format!("/api/operator/usage?{bad}"), &op).await,
            400,
            "invalid_query",
        )
        .await;
    }

    // Operator tokens reach nothing else; tenant tokens and keys do not reach operator routes.
    assert_problem(
        app.get_as("/api/orgs/acme/usage", &op).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_problem(
        app.get_as("/api/orgs/acme/contracts", &op).await,
        401,
        "unauthenticated",
    )
    .await;
    let owner = app.token("acme", Role::Owner, &["pwd", "mfa"], Region::Us);
    let body = assert_problem(
        app.get_as("/api/operator/usage", &owner).await,
        401,
        "unauthenticated",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("operator"));
    assert_problem(
        app.get_as("/api/operator/usage", &with).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_problem(app.get("/api/operator/usage").await, 401, "unauthenticated").await;
    app.stop().await;
}

/// Operator calls spend their own budget (the expensive class, keyed by the operator, not by any
/// org): past it they get 429, while the orgs' budgets are untouched.
#[tokio::test]
async fn operator_calls_are_rate_limited_on_their_own_budget() {
    let app = crate::helpers::spawn_with(|s| {
        s.rate_limits.org_expensive = clment_common::ratelimit::Budget::new(
            std::num::NonZeroU32::new(1).unwrap(),
            std::num::NonZeroU32::new(2).unwrap(),
        );
    })
    .await;
    let op = app.operator_token();
    for _ in 0..2 {
        assert_eq!(app.get_as("/api/operator/usage", &op).await.status(), 200);
    }
    let body = assert_problem(
        app.get_as("/api/operator/usage", &op).await,
        429,
        "rate_limited",
    )
    .await;
    assert!(body["retryAfterSeconds"].as_u64().is_some(), "{body}");
    // An org's own usage route is not charged for the operator's calls.
    let resp = app
        .get_as("/api/orgs/acme/usage", &admin(&app, "acme"))
        .await;
    assert_eq!(resp.status(), 200);
    app.stop().await;
}
