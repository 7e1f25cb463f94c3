//! Trigger invocations in the shapes of shared/reference/azure-platform.md section 1.4.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clment_common::ports::JobQueue as _;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

const CONTRACT: &str = "0190f0a0-1234-7000-8000-00000000abcd";

fn payload(meta: Value, data: Value) -> Value {
    json!({ "Data": data, "Metadata": meta })
}

async fn assert_invocation_ok(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["Outputs"], json!({}));
    assert!(body["Logs"].is_array());
    assert_eq!(body["ReturnValue"], Value::Null);
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    body
}

/// What the host really sends for an Event Grid blob trigger: base64 content, double-encoded
/// string metadata, BlobProperties and user metadata as objects, `BlobTrigger` dropped.
#[tokio::test]
async fn blob_trigger_as_the_host_sends_it() {
    let app = spawn_app().await;
    let content = b"%PDF-1.7\n... contract bytes ...";
    let p = payload(
        json!({
            "name": format!("\"acme/{CONTRACT}/original\""),
            "Uri": format!("\"https://st.blob.core.windows.net/contracts/acme/{CONTRACT}/original\""),
            "Properties": { "ContentLength": content.len(), "ContentType": "application/pdf" },
            "Metadata": { "orgid": "acme", "contractid": CONTRACT },
            "sys": { "MethodName": "index-contract", "UtcNow": "2026-11-24T07:00:00Z", "RandGuid": "x" }
        }),
        json!({ "blob": STANDARD.encode(content) }),
    );
    // Parsed and run: this contract does not exist (no record, no blob), so there is nothing to index,
    // and the invocation is acknowledged rather than retried.
    let body = assert_invocation_ok(app.invoke("index-contract", &p).await).await;
    let log = body["Logs"][0].as_str().unwrap();
    assert!(
        log.contains(CONTRACT) && log.contains("skipped: no such contract"),
        "{log}"
    );
    assert_eq!(app.queue().count().await.unwrap(), 0);
}

/// The same with plain (single-encoded) metadata, lowercase envelope keys, and only a Uri.
#[tokio::test]
async fn plain_metadata_and_uri_only() {
    let app = spawn_app().await;
    let p = json!({
        "data": { "blob": STANDARD.encode(b"hello") },
        "metadata": { "Uri": format!("https://st.blob.core.windows.net/contracts/acme/{CONTRACT}/original?sv=1"), "Properties": "{\"ContentLength\":5}" }
    });
    assert_invocation_ok(app.invoke("index-contract", &p).await).await;
    // Large blobs: no content in the payload, the size comes from the properties.
    let p = payload(
        json!({ "name": format!("acme/{CONTRACT}/original"), "Properties": { "ContentLength": 200_000_000u64 } }),
        json!({ "blob": null }),
    );
    assert_invocation_ok(app.invoke("index-contract", &p).await).await;
    assert_eq!(app.queue().count().await.unwrap(), 0);
}

#[tokio::test]
async fn blobs_that_are_not_originals_are_acknowledged_and_ignored() {
    let app = spawn_app().await;
    let p = payload(json!({ "name": "\"acme/x/extracted.txt\"" }), json!({}));
    let body = assert_invocation_ok(app.invoke("index-contract", &p).await).await;
    assert!(body["Logs"][0].as_str().unwrap().starts_with("ignored"));
    assert_eq!(app.queue().count().await.unwrap(), 0);
}

/// Payloads that can never succeed answer 4xx, so the host retries and then poisons them; nothing is queued.
#[tokio::test]
async fn malformed_invocations_are_refused_without_side_effects() {
    let app = spawn_app().await;
    let cases = [
        ("missing keys", json!({})),
        (
            "no blob name",
            payload(json!({ "sys": {} }), json!({ "blob": "aGVsbG8=" })),
        ),
        (
            "bad org",
            payload(
                json!({ "name": format!("\"a b/{CONTRACT}/original\"") }),
                json!({}),
            ),
        ),
        (
            "bad contract id",
            payload(json!({ "name": "\"acme/123/original\"" }), json!({})),
        ),
        (
            "not base64",
            payload(
                json!({ "name": format!("acme/{CONTRACT}/original") }),
                json!({ "blob": "%%%" }),
            ),
        ),
        (
            "not text",
            payload(
                json!({ "name": format!("acme/{CONTRACT}/original") }),
                json!({ "blob": 5 }),
            ),
        ),
        (
            "length mismatch",
            payload(
                json!({ "name": format!("acme/{CONTRACT}/original"), "Properties": { "ContentLength": 6 } }),
                json!({ "blob": STANDARD.encode(b"hello") }),
            ),
        ),
        (
            "metadata contradicts path",
            payload(
                json!({ "name": format!("acme/{CONTRACT}/original"), "Metadata": { "orgid": "globex" } }),
                json!({}),
            ),
        ),
    ];
    for (name, p) in cases {
        let resp = app.invoke("index-contract", &p).await;
        assert_eq!(resp.status(), 400, "{name}");
        assert_problem(resp, 400, "invalid_invocation").await;
    }
    assert_eq!(app.queue().count().await.unwrap(), 0);
}
