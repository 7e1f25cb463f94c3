//! The audit trail over HTTP: a contract's activity (also after deletion), the org export in NDJSON
//! and CSV, verification before and after tampering, the signed digests and the timer that makes
//! them, client attribution, and that contract text never reaches the trail.

use clment_common::access::Role;
use clment_common::audit::{Digest, DigestVerifier, Verifier};
use clment_common::domain::{OrgId, Region};
use clment_common::ports::StoredEvent;
use serde_json::{Value, json};

use crate::helpers::{Body, TestApp, assert_problem, audit_events, spawn_app};

const ORG: &str = "acme";

fn owner(app: &TestApp) -> String {
    app.token(ORG, Role::Owner, &["pwd", "mfa"], Region::Us)
}

async fn ndjson(app: &TestApp, query: &str) -> Vec<StoredEvent> {
    let resp = app
        .get_as(&format!("/api/orgs/{ORG}/audit{query}"), &owner(app))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let body = resp.text().await.unwrap();
    body.lines()
        .map(|l| serde_json::from_str(l).expect("one event per line"))
        .collect()
}

#[tokio::test]
async fn a_contracts_activity_is_newest_first_paged_and_survives_deletion() {
    let app = spawn_app().await;
    let token = owner(&app);
    let id = app.upload_text(ORG, "This Agreement is made.").await;
    let other = app.upload_text(ORG, "Another agreement.").await;
    let path = format!("/api/orgs/{ORG}/contracts/{id}");
    let renamed = app
        .send(
            "PATCH",
            &path,
            &token,
            Body::Json(json!({ "title": "MSA" })),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(
        app.send("DELETE", &path, &token, Body::None).await.status(),
        204
    );

    let page: Value = app
        .get_as(&format!("{path}/activity"), &token)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["contract.deleted", "contract.renamed", "contract.uploaded"]
    );
    let first = &page["items"][0];
    assert_eq!(first["actor"]["type"], "user");
    assert_eq!(first["actor"]["email"], "user-1@example.com");
    assert_eq!(first["resourceId"], id.as_str());
    assert!(
        first.get("client").is_none() && first.get("hash").is_none(),
        "addresses and hashes are for the admins' export: {first}"
    );
    assert_eq!(page["items"][1]["details"]["after"]["title"], "MSA");

    // Pages of one.
    let mut seen = Vec::new();
    let mut next = format!("{path}/activity?limit=1");
    loop {
        let p: Value = app.get_as(&next, &token).await.json().await.unwrap();
        seen.push(p["items"][0]["action"].as_str().unwrap().to_owned());
        match p["continuation"].as_str() {
            Some(c) => next = format!("{path}/activity?limit=1&continuation={c}"),
            None => break,
        }
    }
    assert_eq!(seen, actions);

    // Another contract's trail is its own; unknown ids and bad queries are refused.
    let theirs: Value = app
        .get_as(
            &format!("/api/orgs/{ORG}/contracts/{other}/activity"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1);
    assert_problem(
        app.get_as(
            &format!("/api/orgs/{ORG}/contracts/0190f0a0-0000-7000-8000-000000000000/activity"),
            &token,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    for q in ["limit=0", "limit=101", "continuation=!!", "colour=red"] {
        assert_problem(
            app.get_as(&format!("{path}/activity?{q}"), &token).await,
            400,
            "invalid_query",
        )
        .await;
    }
}

#[tokio::test]
async fn the_export_streams_every_event_and_verifies_offline() {
    let app = spawn_app().await;
    for i in 0..7 {
        app.upload_text(ORG, &format!("Agreement number {i}."))
            .await;
    }
    let events = ndjson(&app, "").await;
    assert_eq!(events.len(), audit_events(&app, ORG).await.len());
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=events.len() as u64).collect::<Vec<_>>()
    );
    let mut v = Verifier::new(OrgId::parse(ORG).unwrap(), None, []);
    assert!(events.iter().all(|e| v.push(e)));
    assert!(v.finish(&[], None, &DigestVerifier::default()).verified);

    // A window by time.
    let third = &events[2];
    let from = third
        .at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let window = ndjson(&app, &format!("?from={from}")).await;
    assert_eq!(window.first().map(|e| e.seq), Some(third.seq));
    let empty = ndjson(&app, "?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z").await;
    assert!(empty.is_empty());

    // CSV: header plus one row per event, formula cells neutralised.
    let resp = app
        .client
        .get(app.url(&format!("/api/orgs/{ORG}/audit?format=csv")))
        .bearer_auth(owner(&app))
        .header("user-agent", "=HYPERLINK(\"http://evil\")")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(".csv\"")
    );
    let csv = resp.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(rows.headers().unwrap().get(0), Some("seq"));
    assert_eq!(rows.records().count(), events.len());

    for q in [
        "?from=yesterday",
        "?format=xml",
        "?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "?colour=red",
    ] {
        assert_problem(
            app.get_as(&format!("/api/orgs/{ORG}/audit{q}"), &owner(&app))
                .await,
            400,
            "invalid_query",
        )
        .await;
    }
}

async fn verify(app: &TestApp) -> Value {
    let r = app
        .get_as(&format!("/api/orgs/{ORG}/audit/verify"), &owner(app))
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()
}

#[tokio::test]
async fn verification_passes_then_names_the_first_tampered_event() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.upload_text(ORG, &format!("Agreement {i}.")).await;
    }
    // The hourly timer, as the host would fire it.
    let resp = app
        .invoke(
            "audit-digest",
            &json!({ "Data": { "timer": { "IsPastDue": false } }, "Metadata": {} }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let ok = verify(&app).await;
    assert_eq!(ok["verified"], true, "{ok}");
    assert_eq!(ok["digestsChecked"], 1);
    assert_eq!(ok["eventsChecked"], 5);

    // The digests verify offline with the published key, and name the head.
    let page: Value = app
        .get_as(&format!("/api/orgs/{ORG}/audit/digests"), &owner(&app))
        .await
        .json()
        .await
        .unwrap();
    let keys: Vec<&str> = page["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["publicKey"].as_str().unwrap())
        .collect();
    let digest: Digest = serde_json::from_value(page["digests"][0].clone()).unwrap();
    DigestVerifier::from_public_keys(keys)
        .unwrap()
        .verify(&digest)
        .unwrap();
    assert_eq!(digest.head_seq, 5);

    // Someone with write access to the store edits event 3.
    let store = app.queue();
    let mut e: StoredEvent = serde_json::from_slice(&store.audit_row(ORG, 3).unwrap()).unwrap();
    e.event.actor = clment_common::ports::Actor::system("nobody");
    store.tamper_audit_row(ORG, 3, Some(&serde_json::to_vec(&e).unwrap()));
    let bad = verify(&app).await;
    assert_eq!(bad["verified"], false);
    assert_eq!(bad["firstBadSeq"], 3);
    assert_eq!(bad["failure"], "hash_mismatch");
}

#[tokio::test]
async fn events_record_the_forwarded_client_and_a_clean_user_agent() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url(&format!("/api/orgs/{ORG}/contracts")))
        .bearer_auth(owner(&app))
        .header("content-type", "text/plain")
        .header("x-forwarded-for", "203.0.113.5, 10.0.0.1")
        .header("user-agent", format!("bot\t{}", "x".repeat(400)))
        .body("A short agreement.")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let last = audit_events(&app, ORG).await.pop().unwrap();
    assert_eq!(last.event.client.address.as_deref(), Some("203.0.113.5"));
    let ua = last.event.client.user_agent.unwrap();
    assert!(ua.starts_with("botx") && ua.chars().count() == 256, "{ua}");
}

#[tokio::test]
async fn contract_text_never_reaches_the_trail() {
    const CANARY: &str = "CANARY-audit-7f3e";
    let app = spawn_app().await;
    let id = app
        .upload_text(ORG, &format!("Confidential terms {CANARY} apply."))
        .await;
    let path = format!("/api/orgs/{ORG}/contracts/{id}");
    app.send(
        "PATCH",
        &path,
        &owner(&app),
        Body::Json(json!({ "title": "Renamed" })),
    )
    .await;
    for format in ["ndjson", "csv"] {
        let body = app
            .get_as(
                &format!("/api/orgs/{ORG}/audit?format={format}"),
                &owner(&app),
            )
            .await
            .text()
            .await
            .unwrap();
        assert!(!body.is_empty() && !body.contains(CANARY), "{format}");
    }
}

#[tokio::test]
async fn members_and_viewers_cannot_export_or_verify() {
    let app = spawn_app().await;
    for role in [Role::Member, Role::Viewer] {
        let t = app.token(ORG, role, &["pwd"], Region::Us);
        for p in ["audit", "audit/verify", "audit/digests"] {
            assert_problem(
                app.get_as(&format!("/api/orgs/{ORG}/{p}"), &t).await,
                403,
                "insufficient_role",
            )
            .await;
        }
    }
}

/// An auditor's check: the export and the digests, verified offline by `handler verify-export` with
/// the public key obtained separately; one changed line makes it fail at that event.
#[tokio::test]
async fn an_export_verifies_offline_and_a_changed_line_fails_it() {
    let app = spawn_app().await;
    for i in 0..4 {
        app.upload_text(ORG, &format!("Agreement {i}.")).await;
    }
    app.invoke("audit-digest", &json!({ "Data": {}, "Metadata": {} }))
        .await;
    let export = app
        .get_as(&format!("/api/orgs/{ORG}/audit"), &owner(&app))
        .await
        .text()
        .await
        .unwrap();
    let digests: Value = app
        .get_as(&format!("/api/orgs/{ORG}/audit/digests"), &owner(&app))
        .await
        .json()
        .await
        .unwrap();
    let key = digests["keys"][0]["publicKey"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let (events, digest_file) = (dir.path().join("a.ndjson"), dir.path().join("d.json"));
    std::fs::write(&events, &export).unwrap();
    std::fs::write(&digest_file, digests.to_string()).unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_handler"))
            .env_clear()
            .arg("verify-export")
            .arg("--events")
            .arg(&events)
            .arg("--digests")
            .arg(&digest_file)
            .args(["--public-key", &key])
            .output()
            .unwrap()
    };
    let ok = run();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        (
            report["eventsChecked"].as_u64(),
            report["digestsChecked"].as_u64()
        ),
        (Some(4), Some(1))
    );

    let changed = export.replacen("contract.uploaded", "contract.deleted", 3);
    let changed = changed.replacen("contract.deleted", "contract.uploaded", 2);
    std::fs::write(&events, changed).unwrap();
    let bad = run();
    assert_eq!(bad.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["firstBadSeq"], 3);
}
