//! AI review end to end on the local backend with the `offline` provider (the local default): ask,
//! wait, read the result; validation; the wait for indexing; deletes; the purge with the contract;
//! other orgs' ids; and the canary that must stay out of everything but verified excerpts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clment_common::TenantScope;
use clment_common::access::Role;
use clment_common::domain::{ContractId, Region};
use clment_common::ports::JobQueue as _;
use serde_json::{Value, json};

use crate::helpers::{Body, TestApp, assert_problem, spawn_app, spawn_indexing};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel)
}

fn owner(app: &TestApp, org: &str) -> String {
    app.token(org, Role::Owner, &["pwd", "mfa"], Region::Us)
}

async fn ask(app: &TestApp, org: &str, contract: &str, body: Body) -> reqwest::Response {
    app.send(
        "POST",
        &format!("/api/orgs/{org}/contracts/{contract}/reviews"),
        &owner(app, org),
        body,
    )
    .await
}

/// Polls a review until it ends; returns it.
async fn ended(app: &TestApp, location: &str, within: Duration) -> Value {
    let token = owner(app, "acme");
    let until = Instant::now() + within;
    loop {
        let r: Value = app.get_as(location, &token).await.json().await.unwrap();
        match r["status"].as_str() {
            Some("completed" | "failed") => return r,
            _ if Instant::now() > until => panic!("review did not end: {r}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn chars(s: &str, start: u64, end: u64) -> String {
    s.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

/// Every excerpt's text is exactly the uploaded text at its offsets (a text upload's extracted text
/// is its bytes), with a page and a chunk of this contract.
fn assert_excerpts_point_into(result: &Value, text: &str, contract: &str) {
    for f in result["categories"].as_array().unwrap() {
        for e in f["excerpts"].as_array().unwrap() {
            let (start, end) = (e["start"].as_u64().unwrap(), e["end"].as_u64().unwrap());
            assert_eq!(chars(text, start, end), e["text"].as_str().unwrap(), "{f}");
            assert!(e["page"].as_u64().unwrap() >= 1);
            assert!(e["chunk"].as_str().unwrap().starts_with(contract));
        }
        assert_eq!(f["present"], !f["excerpts"].as_array().unwrap().is_empty());
    }
}

/// A CUAD contract uploaded, then reviewed in full: 202 with `Location`, then a completed result with
/// all 41 categories in order, verified excerpts, key dates and the offline provider's figures.
#[tokio::test]
async fn a_review_runs_in_the_background_and_its_excerpts_point_into_the_text() {
    let app = spawn_indexing().await;
    let slug = "ADAPTIMMUNETHERAPEUTICSPLC-04-06-2017-EX-10-11-STRATEGIC-ALLIANCE-AGREEMENT";
    let text = std::fs::read_to_string(shared(&format!("cuad/dev/{slug}.txt"))).unwrap();
    let contract = app.upload_text("acme", &text).await;
    // Asked at once: the review waits for indexing.
    let resp = ask(&app, "acme", &contract, Body::None).await;
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let queued: Value = resp.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["categories"].as_array().unwrap().len(), 41);
    assert_eq!(
        location,
        format!(
            "/api/orgs/acme/contracts/{contract}/reviews/{}",
            queued["id"].as_str().unwrap()
        )
    );
    let done = ended(&app, &location, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}");
    let result = &done["result"];
    assert_eq!(result["provider"], "offline");
    let cats = result["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 41);
    assert_eq!(cats[0]["category"], "document-name");
    assert_eq!(cats[7]["name"], "Governing Law");
    assert_excerpts_point_into(result, &text, &contract);
    // The offline provider sends nothing anywhere.
    assert_eq!(result["minimisation"]["tokensSent"], 0);
    assert!(result["minimisation"]["contractTokens"].as_u64().unwrap() > 10_000);
    assert_eq!(result["usage"]["calls"], 0);
    assert_eq!(result["droppedQuotes"], 0);
    assert!(!result["summary"].as_str().unwrap().is_empty());

    // Listed, newest first, without results.
    let second = ask(
        &app,
        "acme",
        &contract,
        Body::Json(json!({ "categories": ["Governing Law", "anti-assignment", "governing-law"] })),
    )
    .await;
    assert_eq!(second.status(), 202);
    let second: Value = second.json().await.unwrap();
    assert_eq!(
        second["categories"],
        json!(["governing-law", "anti-assignment"])
    );
    let list: Value = app
        .get_as(
            &format!("/api/orgs/acme/contracts/{contract}/reviews?limit=1"),
            &owner(&app, "acme"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], second["id"]);
    assert!(list["items"][0].get("result").is_none());
    let next: Value = app
        .get_as(
            &format!(
                "/api/orgs/acme/contracts/{contract}/reviews?limit=1&continuation={}",
                list["continuation"].as_str().unwrap()
            ),
            &owner(&app, "acme"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"][0]["id"], queued["id"]);
    assert!(next.get("continuation").is_none());
    let narrow = ended(
        &app,
        &format!(
            "/api/orgs/acme/contracts/{contract}/reviews/{}",
            second["id"].as_str().unwrap()
        ),
        Duration::from_secs(30),
    )
    .await;
    let keys: Vec<_> = narrow["result"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["category"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["governing-law", "anti-assignment"]);

    // The trail: requested (by the user) and completed (by the reviewer), filed under the contract.
    let events = app
        .state
        .audit
        .read_contract(
            &TenantScope::for_tests("acme", Region::Us),
            &contract,
            u64::MAX,
            100,
        )
        .await
        .unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "review.requested").count(),
        2
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "review.completed").count(),
        2
    );
}

/// Bad requests say what is wrong and store nothing.
#[tokio::test]
async fn bad_review_requests_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let contract = app.upload_text("acme", "A short agreement.").await;
    let unknown = assert_problem(
        ask(
            &app,
            "acme",
            &contract,
            Body::Json(json!({ "categories": ["governing-law", "astrology"] })),
        )
        .await,
        422,
        "invalid_request",
    )
    .await;
    assert!(unknown["detail"].as_str().unwrap().contains("astrology"));
    assert_eq!(unknown["categories"].as_array().unwrap().len(), 41);
    assert_problem(
        ask(
            &app,
            "acme",
            &contract,
            Body::Json(json!({ "categories": [] })),
        )
        .await,
        422,
        "invalid_request",
    )
    .await;
    assert_problem(
        ask(
            &app,
            "acme",
            &contract,
            Body::Json(json!({ "categories": "all" })),
        )
        .await,
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        ask(
            &app,
            "acme",
            &contract,
            Body::Json(json!({ "everything": true })),
        )
        .await,
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        ask(
            &app,
            "acme",
            &contract,
            Body::File(b"categories=all".to_vec(), "text/plain", None),
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_problem(
        ask(&app, "acme", "not-a-uuid", Body::None).await,
        400,
        "invalid_path",
    )
    .await;
    assert_problem(
        ask(&app, "acme", &ContractId::new().to_string(), Body::None).await,
        404,
        "not_found",
    )
    .await;
    let token = owner(&app, "acme");
    for bad in ["limit=0", "limit=101", "continuation=zzz", "sort=asc"] {
        assert_problem(
            app.get_as(
                &format!("/api/orgs/acme/contracts/{contract}/reviews?{bad}"),
                &token,
            )
            .await,
            400,
            "invalid_query",
        )
        .await;
    }
    let scope = TenantScope::for_tests("acme", Region::Us);
    assert!(
        app.state
            .reviews
            .list(&scope, ContractId::parse(&contract).unwrap(), 10, None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A contract whose text could not be extracted cannot be reviewed (409 with the reason); one still
/// waiting for indexing is accepted and stays queued.
#[tokio::test]
async fn unreadable_contracts_are_refused_and_pending_ones_wait() {
    let app = spawn_indexing().await;
    let scan = std::fs::read(shared("docs/hostile/image-only-scan-no-text-layer.pdf")).unwrap();
    let resp = app
        .send(
            "POST",
            "/api/orgs/acme/contracts",
            &owner(&app, "acme"),
            Body::File(scan, "application/pdf", Some("scan.pdf".into())),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let r: Value = app
            .get_as(
                &format!("/api/orgs/acme/contracts/{id}"),
                &owner(&app, "acme"),
            )
            .await
            .json()
            .await
            .unwrap();
        if r["status"] == "failed" {
            break;
        }
        assert!(Instant::now() < until, "{r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = assert_problem(ask(&app, "acme", &id, Body::None).await, 409, "conflict").await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("cannot be reviewed")
    );

    // Without workers a contract stays pending, and so does its review.
    let idle = spawn_app().await;
    let contract = idle
        .upload_text("acme", "An agreement governed by the laws of Delaware.")
        .await;
    let resp = ask(&idle, "acme", &contract, Body::None).await;
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let r: Value = idle
        .get_as(&location, &owner(&idle, "acme"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "queued");
}

/// Reviews are deleted one by one (idempotently) and with their contract; another org's review id
/// under one's own contract is 404, and another org's path is 403.
#[tokio::test]
async fn reviews_are_deleted_alone_or_with_their_contract_and_stay_in_their_org() {
    let app = spawn_app().await;
    let token = owner(&app, "acme");
    let contract = app.upload_text("acme", "An agreement.").await;
    let review = app.request_review("acme", &contract).await;
    let other_contract = app.upload_text("globex", "Another agreement.").await;
    let other_review = app.request_review("globex", &other_contract).await;
    let path = |c: &str, r: &str| format!("/api/orgs/acme/contracts/{c}/reviews/{r}");

    assert_eq!(
        app.get_as(&path(&contract, &review), &token).await.status(),
        200
    );
    // Another org's review and contract are invisible here, whichever way they are named.
    assert_problem(
        app.get_as(&path(&contract, &other_review), &token).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get_as(&path(&other_contract, &other_review), &token)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get_as(
            &format!("/api/orgs/globex/contracts/{other_contract}/reviews/{other_review}"),
            &token,
        )
        .await,
        403,
        "cross_tenant",
    )
    .await;
    assert_problem(
        app.get_as(&path(&contract, "nope"), &token).await,
        400,
        "invalid_path",
    )
    .await;

    for _ in 0..2 {
        let resp = app
            .send("DELETE", &path(&contract, &review), &token, Body::None)
            .await;
        assert_eq!(resp.status(), 204);
    }
    assert_problem(
        app.get_as(&path(&contract, &review), &token).await,
        404,
        "not_found",
    )
    .await;

    // Deleting the contract purges its reviews from the store.
    let kept = app.request_review("acme", &contract).await;
    assert_eq!(
        app.get_as(&path(&contract, &kept), &token).await.status(),
        200
    );
    let resp = app
        .send(
            "DELETE",
            &format!("/api/orgs/acme/contracts/{contract}"),
            &token,
            Body::None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let scope = TenantScope::for_tests("acme", Region::Us);
    assert!(
        app.state
            .reviews
            .list(&scope, ContractId::parse(&contract).unwrap(), 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    // The other org's review is untouched.
    let globex = TenantScope::for_tests("globex", Region::Us);
    assert_eq!(
        app.state
            .reviews
            .list(
                &globex,
                ContractId::parse(&other_contract).unwrap(),
                10,
                None
            )
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_idempotent_review_request_asks_once() {
    let app = spawn_app().await;
    let token = owner(&app, "acme");
    let contract = app.upload_text("acme", "An agreement.").await;
    let jobs_before = app.queue().count().await.unwrap();
    let path = format!("/api/orgs/acme/contracts/{contract}/reviews");
    let send = |key: &'static str, body: Value| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.to_string())
            .send()
    };
    let asked = json!({"categories": ["governing-law", "parties"]});
    let first = send("review-7", asked.clone()).await.unwrap();
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first: Value = first.json().await.unwrap();
    // A retry (categories in another order are the same request) gets the first review back.
    let retry = send(
        "review-7",
        json!({"categories": ["parties", "governing-law"]}),
    )
    .await
    .unwrap();
    assert_eq!(retry.status(), 202);
    assert_eq!(retry.headers()["location"].to_str().unwrap(), location);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    let page: Value = app.get_as(&path, &token).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // The same key for another request is a conflict and asks nothing.
    assert_problem(
        send("review-7", json!({"categories": ["insurance"]}))
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    assert_eq!(app.queue().count().await.unwrap(), jobs_before + 1);
    let asks = crate::helpers::audit_events(&app, "acme")
        .await
        .iter()
        .filter(|e| e.event.action.starts_with("review."))
        .count();
    assert_eq!(asks, 1);
    // A malformed key is refused; after a delete the key asks again.
    assert_problem(
        send("", asked.clone()).await.unwrap(),
        400,
        "invalid_header",
    )
    .await;
    let id = first["id"].as_str().unwrap();
    let resp = app
        .send("DELETE", &format!("{path}/{id}"), &token, Body::None)
        .await;
    assert_eq!(resp.status(), 204);
    let again: Value = send("review-7", asked).await.unwrap().json().await.unwrap();
    assert_ne!(again["id"], first["id"]);
}

/// Not the real Azure OpenAI service: a loopback stand-in speaking the chat-completions wire
/// protocol. It counts the requests and answers each with a valid answer that finds nothing.
async fn chat_stand_in() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use warp::Filter as _;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let route = warp::post()
        .and(warp::body::bytes())
        .map(move |_: bytes::Bytes| {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = json!({ "summary": "Nothing found.", "findings": [] }).to_string();
            warp::reply::json(&json!({
                "id": "chatcmpl-stand-in", "object": "chat.completion", "created": 1_732_000_000,
                "model": "gpt-4o-2024-08-06",
                "choices": [{ "index": 0, "finish_reason": "stop",
                    "message": { "role": "assistant", "content": answer, "refusal": null } }],
                "usage": { "prompt_tokens": 900, "completion_tokens": 20, "total_tokens": 920 }
            }))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (endpoint, calls)
}

/// The org's AI review policy (`aiReview` in `PUT /security`) decides what a `foundry` review sends:
/// nothing at all when the org forbids remote models (the review runs on the offline provider and
/// the model is never called), at most the org's share when it is lower than the deployment's, and
/// never more than the deployment's. A policy update without `aiReview` leaves it as it was.
#[tokio::test]
async fn an_orgs_ai_review_policy_decides_what_a_review_sends() {
    use std::sync::atomic::Ordering;
    let (endpoint, calls) = chat_stand_in().await;
    let app = crate::helpers::spawn_with(|s| {
        s.indexing.background = true;
        s.review = clment_handler::config::ReviewSettings::Foundry {
            endpoint,
            deployment: "chat".into(),
            api_version: "v1".into(),
            api_key: Some(secrecy::SecretString::from("stand-in-key".to_owned())),
            timeout: Duration::from_secs(30),
            context_percent: 35,
        };
    })
    .await;
    let owner = owner(&app, "acme");
    let slug = "ADAPTIMMUNETHERAPEUTICSPLC-04-06-2017-EX-10-11-STRATEGIC-ALLIANCE-AGREEMENT";
    let text = std::fs::read_to_string(shared(&format!("cuad/dev/{slug}.txt"))).unwrap();
    let contract = app.upload_text("acme", &text).await;
    let policy = |ai: Option<Value>| {
        let mut body = json!({ "allowedSignInMethods": ["password", "sso"], "requireMfa": false });
        if let Some(ai) = ai {
            body["aiReview"] = ai;
        }
        let (app, owner) = (&app, &owner);
        async move {
            let resp = app
                .call("PUT", "/api/orgs/acme/security", owner, Some(body))
                .await;
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()["aiReview"].clone()
        }
    };
    let review = || async {
        let resp = ask(&app, "acme", &contract, Body::None).await;
        assert_eq!(resp.status(), 202);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let done = ended(&app, &location, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "completed", "{done}");
        let m = &done["result"]["minimisation"];
        let share = m["tokensSent"].as_f64().unwrap() / m["contractTokens"].as_f64().unwrap();
        (
            done["result"]["provider"].as_str().unwrap().to_owned(),
            share,
        )
    };

    // By default a review may send the deployment's share.
    let shown: Value = app
        .get_as("/api/orgs/acme/security", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["aiReview"], json!({ "allowRemoteModel": true }));
    let (provider, share) = review().await;
    assert_eq!(provider, "foundry");
    assert!(share > 0.30 && share <= 0.35, "{share}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Forbidden: reviewed offline, nothing sent, the model never called.
    let set = policy(Some(json!({ "allowRemoteModel": false }))).await;
    assert_eq!(set, json!({ "allowRemoteModel": false }));
    let (provider, share) = review().await;
    assert_eq!((provider.as_str(), share), ("offline", 0.0));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A smaller share than the deployment's is honoured; a larger one is not.
    policy(Some(
        json!({ "allowRemoteModel": true, "maxContextPercent": 10 }),
    ))
    .await;
    let (provider, share) = review().await;
    assert_eq!(provider, "foundry");
    assert!(share > 0.05 && share <= 0.10, "{share}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Sign-in changes alone keep the AI review policy.
    let kept = policy(None).await;
    assert_eq!(
        kept,
        json!({ "allowRemoteModel": true, "maxContextPercent": 10 })
    );
    policy(Some(
        json!({ "allowRemoteModel": true, "maxContextPercent": 80 }),
    ))
    .await;
    let (_, share) = review().await;
    assert!(share > 0.30 && share <= 0.35, "{share}");

    // Out of range or malformed: refused, nothing changed; every change is audited.
    for (ai, status, code) in [
        (
            json!({ "allowRemoteModel": true, "maxContextPercent": 4 }),
            422,
            "invalid_request",
        ),
        (
            json!({ "allowRemoteModel": true, "maxContextPercent": 101 }),
            422,
            "invalid_request",
        ),
        (
            json!({ "allowRemoteModel": true, "maxContextPercent": 300 }),
            400,
            "malformed_json",
        ),
        (json!({ "maxContextPercent": 20 }), 400, "malformed_json"),
        (
            json!({ "allowRemoteModel": true, "share": 20 }),
            400,
            "malformed_json",
        ),
    ] {
        let body = json!({ "allowedSignInMethods": ["sso", "password"], "requireMfa": false, "aiReview": ai });
        assert_problem(
            app.call("PUT", "/api/orgs/acme/security", &owner, Some(body))
                .await,
            status,
            code,
        )
        .await;
    }
    let org: Value = app
        .get_as("/api/orgs/acme", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        org["security"]["aiReview"],
        json!({ "allowRemoteModel": true, "maxContextPercent": 80 })
    );
    let changes: Vec<Value> = crate::helpers::audit_events(&app, "acme")
        .await
        .into_iter()
        .filter(|e| e.event.action == "security.updated")
        .map(|e| e.event.details)
        .collect();
    assert_eq!(changes.len(), 4);
    assert_eq!(
        changes[0]["before"]["aiReview"],
        json!({ "allowRemoteModel": true })
    );
    assert_eq!(
        changes[0]["after"]["aiReview"],
        json!({ "allowRemoteModel": false })
    );
}
