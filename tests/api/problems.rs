//! Every kind of refusal is application/problem+json with a stable code and the request id.

use crate::helpers::{assert_problem, assert_security_headers, spawn_app, spawn_with};

#[tokio::test]
async fn unknown_route() {
    let app = spawn_app().await;
    let body = assert_problem(app.get("/api/nope").await, 404, "route_not_found").await;
    assert!(body["detail"].as_str().unwrap().contains("/api/nope"));
    assert_problem(app.get("/api/health/").await, 404, "route_not_found").await;
    assert_problem(app.get("/api").await, 404, "route_not_found").await;
    assert_problem(app.get("/a/b").await, 404, "route_not_found").await;
}

#[tokio::test]
async fn wrong_method_lists_the_allowed_ones() {
    let app = spawn_app().await;
    let resp = app
        .client
        .delete(app.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "GET");
    assert_problem(resp, 405, "method_not_allowed").await;
    let resp = app.get("/index-contract").await;
    assert_eq!(resp.headers()["allow"], "POST");
    assert_problem(resp, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn unknown_function() {
    let app = spawn_app().await;
    let body = assert_problem(
        app.invoke("no-such-function", &serde_json::json!({})).await,
        404,
        "unknown_function",
    )
    .await;
    assert_eq!(
        body["functions"],
        serde_json::json!(["index-contract", "run-job", "audit-digest", "reconcile"])
    );
}

#[tokio::test]
async fn malformed_json() {
    let app = spawn_app().await;
    for bad in ["{", "not json", "[1,2", ""] {
        let resp = app
            .client
            .post(app.url("/index-contract"))
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_problem(resp, 400, "malformed_json").await;
    }
    // Well-formed JSON of the wrong shape is malformed too, and the detail does not echo values.
    let resp = app
        .client
        .post(app.url("/index-contract"))
        .header("content-type", "application/json")
        .body(r#"{"Data": "CANARY-7f3a"}"#)
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 400, "malformed_json").await;
    assert!(!body.to_string().contains("CANARY-7f3a"));
}

#[tokio::test]
async fn unsupported_media_type() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/index-contract"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 415, "unsupported_media_type").await;
    assert_eq!(body["accepted"], serde_json::json!(["application/json"]));
}

#[tokio::test]
async fn body_too_large_is_refused_from_the_declared_length_and_while_streaming() {
    let app = spawn_with(|s| s.max_invocation_bytes = 4096).await;
    // Declared length over the cap: refused before reading.
    let resp = app
        .client
        .post(app.url("/index-contract"))
        .header("content-type", "application/json")
        .body(vec![b' '; 10_000])
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 413, "payload_too_large").await;
    assert_eq!(body["maxBytes"], 4096);
    // Chunked (no length): refused once the running total passes the cap.
    let chunks =
        futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1000])));
    let resp = app
        .client
        .post(app.url("/index-contract"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 413, "payload_too_large").await;
}

#[tokio::test]
async fn request_ids_are_echoed_when_safe_and_generated_otherwise() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/api/health"))
        .header("x-request-id", "web-42.a:b_c")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "web-42.a:b_c");
    let resp = app
        .client
        .get(app.url("/api/nope"))
        .header("x-request-id", "req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "req-1");
    assert_eq!(
        assert_problem(resp, 404, "route_not_found").await["requestId"],
        "req-1"
    );
    for bad in ["has space", "x".repeat(200).as_str(), "ünï"] {
        let resp = app
            .client
            .get(app.url("/api/health"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let echoed = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(echoed, bad);
        assert_eq!(echoed.len(), 32);
    }
    let a = app.get("/api/health").await.headers()["x-request-id"].clone();
    let b = app.get("/api/health").await.headers()["x-request-id"].clone();
    assert_ne!(a, b);
}

#[tokio::test]
async fn security_headers_are_on_every_kind_of_response() {
    let app = spawn_app().await;
    let token = app.token(
        "acme",
        clment_common::access::Role::Viewer,
        &["pwd"],
        clment_common::domain::Region::Us,
    );
    let responses = vec![
        app.get("/").await,
        app.get("/api/health").await,
        app.get("/api/openapi.json").await,
        app.get_as("/api/me", &token).await,
        app.get("/api/me").await,
        app.get("/api/nope").await,
        app.client
            .post(app.url("/api/health"))
            .send()
            .await
            .unwrap(),
        app.invoke(
            "index-contract",
            &serde_json::json!({"Data": {}, "Metadata": {"name": "\"x\""}}),
        )
        .await,
        app.invoke("nope", &serde_json::json!({})).await,
    ];
    for r in &responses {
        assert_security_headers(r);
    }
}

/// The wire format of problems is part of the API: snapshot one of each family.
#[tokio::test]
async fn problem_bodies_snapshot() {
    let app = spawn_app().await;
    let mut bodies = Vec::new();
    for (method, path) in [
        ("GET", "/api/nope"),
        ("DELETE", "/api/health"),
        ("GET", "/api/me"),
    ] {
        let resp = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .header("x-request-id", "snapshot")
            .send()
            .await
            .unwrap();
        let www = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: serde_json::Value = resp.json().await.unwrap();
        bodies.push(serde_json::json!({ "request": format!("{method} {path}"), "wwwAuthenticate": www, "body": body }));
    }
    insta::assert_json_snapshot!(bodies);
}
