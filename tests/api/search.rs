//! Indexing on upload and tenant-scoped search, end to end on the local backend: real extraction
//! worker processes of the handler executable, the local (tantivy) index, the durable job queue.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clment_common::TenantScope;
use clment_common::access::Role;
use clment_common::domain::{ContractId, Region};
use serde_json::{Value, json};

use crate::helpers::{Body, TestApp, assert_problem, spawn_indexing as spawn_app};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel)
}

fn owner(app: &TestApp, org: &str) -> String {
    app.token(org, Role::Owner, &["pwd", "mfa"], Region::Us)
}

/// Uploads a file as an owner; returns the contract's id.
async fn upload(app: &TestApp, org: &str, bytes: Vec<u8>, ct: &'static str, name: &str) -> String {
    let resp = app
        .send(
            "POST",
            &format!("/api/orgs/{org}/contracts"),
            &owner(app, org),
            Body::File(bytes, ct, Some(name.to_owned())),
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls a contract until it leaves `pending`/`indexing`; returns its record.
async fn settled(app: &TestApp, org: &str, id: &str, within: Duration) -> Value {
    let token = owner(app, org);
    let until = Instant::now() + within;
    loop {
        let r: Value = app
            .get_as(&format!("/api/orgs/{org}/contracts/{id}"), &token)
            .await
            .json()
            .await
            .unwrap();
        match r["status"].as_str() {
            Some("indexed" | "failed") => return r,
            _ if Instant::now() > until => panic!("contract {id} did not settle: {r}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn search(app: &TestApp, org: &str, query: &str) -> Value {
    let resp = app
        .get_as(&format!("/api/orgs/{org}/search?{query}"), &owner(app, org))
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

fn q(text: &str) -> String {
    serde_urlencoded::to_string([("q", text)]).unwrap()
}

async fn chunk_count(app: &TestApp, org: &str, id: &str) -> u64 {
    app.state
        .index
        .count(
            &TenantScope::for_tests(org, Region::Us),
            ContractId::parse(id).unwrap(),
        )
        .await
        .unwrap()
}

/// A clause as a query: its whole words, within the query limit.
fn clause_query(clause: &str) -> String {
    let mut q = String::new();
    for w in clause.split_whitespace() {
        if q.len() + w.len() + 1 > 480 {
            break;
        }
        q.push_str(w);
        q.push(' ');
    }
    q.trim_end().to_owned()
}

/// A labelled clause of a CUAD dev contract (its text, up to the query limit).
fn labelled_clause(slug: &str, category: &str) -> String {
    let labels = std::fs::read_to_string(shared("cuad/dev/labels.jsonl")).unwrap();
    for line in labels.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["contract"] == slug && v["category"] == category {
            let text = v["answers"][0]["text"].as_str().unwrap();
            return clause_query(text);
        }
    }
    panic!("no {category} label for {slug}");
}

/// CUAD dev contracts, as text and as PDF, index on upload; searching a distinctive phrase from a
/// labelled clause finds that contract first, with a snippet that marks the words and offsets that
/// point at the clause in the extracted text.
#[tokio::test]
async fn cuad_contracts_index_on_upload_and_their_clauses_are_found_first() {
    let app = spawn_app().await;
    let slugs = [
        "ADAPTIMMUNETHERAPEUTICSPLC-04-06-2017-EX-10-11-STRATEGIC-ALLIANCE-AGREEMENT",
        "AFSALABANCORPINC-08-01-1996-EX-1-1-AGENCY-AGREEMENT",
        "Apollo-Endosurgery-Manufacturing-and-Supply-Agreement",
        "AzulSa-20170303-F-1A-EX-10-3-9943903-EX-10-3-Maintenance-Agreement2",
    ];
    let mut ids = Vec::new();
    for (i, slug) in slugs.iter().enumerate() {
        // Half as text, half as the original PDF.
        let id = if i % 2 == 0 {
            let text = std::fs::read(shared(&format!("cuad/dev/{slug}.txt"))).unwrap();
            upload(&app, "acme", text, "text/plain", &format!("{slug}.txt")).await
        } else {
            let pdf = std::fs::read(shared(&format!("cuad/dev/pdf/{slug}.pdf"))).unwrap();
            upload(&app, "acme", pdf, "application/pdf", &format!("{slug}.pdf")).await
        };
        ids.push(id);
    }
    for id in &ids {
        let r = settled(&app, "acme", id, Duration::from_secs(120)).await;
        assert_eq!(r["status"], "indexed", "{r}");
        assert!(chunk_count(&app, "acme", id).await > 3);
    }
    for (slug, id) in slugs.iter().zip(&ids) {
        let phrase = labelled_clause(slug, "Governing Law");
        let page = search(&app, "acme", &q(&phrase)).await;
        let first = &page["items"][0];
        assert_eq!(
            first["contractId"],
            id.as_str(),
            "{slug}: {phrase:?} -> {page}"
        );
        assert_eq!(page["mode"], "keyword");
        assert!(
            page["notice"]
                .as_str()
                .unwrap()
                .contains("Keyword search only")
        );
        assert!(first["title"].as_str().unwrap().starts_with(&slug[..10]));
        assert!(first["pageStart"].as_u64().unwrap() >= 1);
        assert!(first["end"].as_u64() > first["start"].as_u64());
        assert!(
            !first["snippet"]["highlights"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    // For a text contract the extracted text is the file itself: the offsets point into it.
    let text = std::fs::read_to_string(shared(&format!("cuad/dev/{}.txt", slugs[0]))).unwrap();
    let phrase = labelled_clause(slugs[0], "Governing Law");
    let first = &search(&app, "acme", &q(&phrase)).await["items"][0];
    let (s, e) = (
        first["start"].as_u64().unwrap() as usize,
        first["end"].as_u64().unwrap() as usize,
    );
    let chunk: String = text.chars().skip(s).take(e - s).collect();
    let first_word = phrase.split_whitespace().next().unwrap();
    assert!(
        chunk.contains(first_word),
        "offsets do not point at the hit"
    );
    // The activity trail shows the indexing.
    let activity: Value = app
        .get_as(
            &format!("/api/orgs/acme/contracts/{}/activity", ids[0]),
            &owner(&app, "acme"),
        )
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["contract.indexed", "contract.uploaded"]);
}

/// Two orgs upload the same contract; each finds only its own, and naming the other's contract is a 404.
#[tokio::test]
async fn two_orgs_with_the_same_contract_see_only_their_own() {
    let app = spawn_app().await;
    let text = std::fs::read(shared(
        "cuad/dev/AFSALABANCORPINC-08-01-1996-EX-1-1-AGENCY-AGREEMENT.txt",
    ))
    .unwrap();
    let a = upload(&app, "acme", text.clone(), "text/plain", "a.txt").await;
    let g = upload(&app, "globex", text, "text/plain", "g.txt").await;
    settled(&app, "acme", &a, Duration::from_secs(60)).await;
    settled(&app, "globex", &g, Duration::from_secs(60)).await;
    for (org, own, other) in [("acme", &a, &g), ("globex", &g, &a)] {
        let page = search(&app, org, &format!("{}&top=50", q("agency agreement bank"))).await;
        let items = page["items"].as_array().unwrap();
        assert!(!items.is_empty());
        for item in items {
            assert_eq!(
                item["contractId"],
                own.as_str(),
                "{org} saw another org's chunk"
            );
            assert!(item["chunkId"].as_str().unwrap().starts_with(own.as_str()));
        }
        let resp = app
            .get_as(
                &format!("/api/orgs/{org}/search?{}&contractId={other}", q("agency")),
                &owner(&app, org),
            )
            .await;
        assert_problem(resp, 404, "not_found").await;
        // And the other org's path is refused before anything is searched.
        let resp = app
            .get_as(
                &format!(
                    "/api/orgs/{}/search?{}",
                    if org == "acme" { "globex" } else { "acme" },
                    q("agency")
                ),
                &owner(&app, org),
            )
            .await;
        assert_eq!(resp.status(), 403);
    }
}

/// Deleting a contract purges its chunks: search never returns deleted text.
#[tokio::test]
async fn deleted_contracts_are_never_found() {
    let app = spawn_app().await;
    let id = app
        .upload_text(
            "acme",
            "The Licensee shall pay a quarterly royalty of seven percent on zanzibarite sales.",
        )
        .await;
    settled(&app, "acme", &id, Duration::from_secs(30)).await;
    let page = search(&app, "acme", &q("zanzibarite royalty")).await;
    assert_eq!(page["items"][0]["contractId"], id.as_str());
    let resp = app
        .call(
            "DELETE",
            &format!("/api/orgs/acme/contracts/{id}"),
            &owner(&app, "acme"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(chunk_count(&app, "acme", &id).await, 0);
    let page = search(&app, "acme", &q("zanzibarite royalty")).await;
    assert_eq!(page["items"], json!([]), "deleted text was found");
    let scope = TenantScope::for_tests("acme", Region::Us);
    assert!(
        app.state
            .texts
            .get_text(&scope, ContractId::parse(&id).unwrap())
            .await
            .unwrap()
            .is_none(),
        "the extracted text survived the delete"
    );
}

/// The blob trigger delivered three times (the host retries, Event Grid redelivers) leaves one set
/// of chunks.
#[tokio::test]
async fn a_trigger_delivered_three_times_leaves_one_set_of_chunks() {
    let app = spawn_app().await;
    let text =
        "1. TERM\nThis Agreement runs for five years.\n\n2. RENEWAL\nIt renews for one year.\n";
    let id = app.upload_text("acme", text).await;
    settled(&app, "acme", &id, Duration::from_secs(30)).await;
    let before = chunk_count(&app, "acme", &id).await;
    assert!(before >= 1);
    let payload = json!({
        "Data": { "blob": STANDARD.encode(text) },
        "Metadata": {
            "name": format!("\"acme/{id}/original\""),
            "Properties": { "ContentLength": text.len() },
            "Metadata": { "orgid": "acme", "contractid": id },
        }
    });
    for _ in 0..3 {
        let resp = app.invoke("index-contract", &payload).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["Logs"][0]
                .as_str()
                .unwrap()
                .contains("already indexed"),
            "{body}"
        );
    }
    assert_eq!(chunk_count(&app, "acme", &id).await, before);
}

/// Every hostile file the upload accepts ends `indexed` or `failed` with a reason code; the process
/// stays up. Scans and encrypted PDFs get their documented codes.
#[tokio::test]
async fn hostile_files_end_indexed_or_failed_with_a_reason() {
    let app = spawn_app().await;
    let dir = shared("docs/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut accepted = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        let ct = if name.ends_with(".pdf") {
            "application/pdf"
        } else {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        };
        let resp = app
            .client
            .post(app.url("/api/orgs/acme/contracts"))
            .bearer_auth(owner(&app, "acme"))
            .header("content-type", ct)
            .header(
                "content-disposition",
                format!("attachment; filename=\"{name}\""),
            )
            .body(bytes)
            .send()
            .await;
        // A refusal decided from the first bytes may close the connection before the whole body is
        // sent; that is a refusal too.
        let Ok(resp) = resp else {
            continue;
        };
        let status = resp.status().as_u16();
        assert!(
            (400..500).contains(&status) || status == 201,
            "{name}: {status}"
        );
        if status == 201 {
            let id = resp.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            accepted.push((name, id));
        }
    }
    assert!(accepted.len() >= 5, "{accepted:?}");
    let mut outcomes = Vec::new();
    for (name, id) in &accepted {
        let r = settled(&app, "acme", id, Duration::from_secs(180)).await;
        let code = r["failure"]["code"].as_str().unwrap_or("-").to_owned();
        if r["status"] == "failed" {
            assert!(
                [
                    "encrypted",
                    "no_text",
                    "too_large",
                    "timeout",
                    "unreadable",
                    "unsupported"
                ]
                .contains(&code.as_str()),
                "{name}: {r}"
            );
            assert!(!r["failure"]["detail"].as_str().unwrap().is_empty());
        }
        outcomes.push((name.clone(), r["status"].as_str().unwrap().to_owned(), code));
    }
    eprintln!("{outcomes:#?}");
    let code_of = |n: &str| {
        outcomes
            .iter()
            .find(|o| o.0 == n)
            .map(|o| (o.1.clone(), o.2.clone()))
    };
    if let Some(o) = code_of("encrypted-user-password.pdf") {
        assert_eq!(o, ("failed".into(), "encrypted".into()));
    }
    if let Some(o) = code_of("image-only-scan-no-text-layer.pdf") {
        assert_eq!(o, ("failed".into(), "no_text".into()));
    }
    if let Some(o) = code_of("huge-page-count-100000.pdf") {
        assert_eq!(o, ("failed".into(), "too_large".into()));
    }
    if let Some(o) = code_of("zip-bomb-1GiB-document-xml.docx") {
        assert_eq!(o.0, "failed");
    }
    // Still serving.
    assert_eq!(app.get("/api/health").await.status(), 200);
}

/// Bad queries are 400s that say what was wrong; paging works with the opaque continuation.
#[tokio::test]
async fn queries_are_validated_and_pages_continue() {
    let app = spawn_app().await;
    let token = owner(&app, "acme");
    for (query, what) in [
        ("", "q:"),
        ("q=%20%20", "q:"),
        ("q=...", "q:"),
        ("q=a&top=0", "top:"),
        ("q=a&top=51", "top:"),
        ("q=a&continuation=zz", "continuation:"),
        ("q=a&contractId=nope", "contractId:"),
        ("q=a&filter=orgId", "Query:"),
    ] {
        let resp = app
            .get_as(&format!("/api/orgs/acme/search?{query}"), &token)
            .await;
        let body = assert_problem(resp, 400, "invalid_query").await;
        assert!(
            body["detail"].as_str().unwrap().starts_with(what),
            "{query}: {body}"
        );
    }
    let long = "x".repeat(501);
    let resp = app
        .get_as(&format!("/api/orgs/acme/search?q={long}"), &token)
        .await;
    assert_problem(resp, 400, "invalid_query").await;

    let text: String = (0..40)
        .map(|i| {
            format!(
                "{i}. Indemnity. The supplier shall indemnify the buyer, case {i}.\n\n{}\n\n",
                "Filler sentence about nothing in particular. ".repeat(30)
            )
        })
        .collect();
    let id = app.upload_text("acme", &text).await;
    settled(&app, "acme", &id, Duration::from_secs(30)).await;
    let mut seen = Vec::new();
    let mut query = format!("{}&top=3", q("indemnify"));
    for _ in 0..100 {
        let page = search(&app, "acme", &query).await;
        for item in page["items"].as_array().unwrap() {
            let c = item["chunkId"].as_str().unwrap().to_owned();
            assert!(!seen.contains(&c), "pages overlap");
            seen.push(c);
        }
        match page["continuation"].as_str() {
            Some(c) => query = format!("{}&top=3&continuation={c}", q("indemnify")),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, chunk_count(&app, "acme", &id).await);
}

/// Not the real Azure OpenAI service: a loopback server speaking the documented embeddings wire
/// protocol (`POST /openai/deployments/{d}/embeddings?api-version=...`, `api-key`). Each text becomes
/// a vector of 16 word-hash buckets, so texts sharing words are near each other.
async fn embeddings_stand_in() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use warp::Filter as _;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let route = warp::post()
        .and(warp::path!("openai" / "deployments" / "emb" / "embeddings"))
        .and(warp::header::exact("api-key", "stand-in-key"))
        .and(warp::body::json())
        .map(move |body: Value| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let inputs = body["input"].as_array().cloned().unwrap_or_default();
            let data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut v = vec![0.0f32; 16];
                    for w in t.as_str().unwrap_or_default().split_whitespace() {
                        let h = w
                            .to_lowercase()
                            .bytes()
                            .fold(7usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize));
                        v[h % 16] += 1.0;
                    }
                    json!({ "object": "embedding", "index": i, "embedding": v })
                })
                .collect();
            warp::reply::json(&json!({
                "object": "list", "data": data, "model": "emb",
                "usage": { "prompt_tokens": 1, "total_tokens": 1 }
            }))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}"), calls)
}

/// With an embedding deployment configured, chunks are embedded at indexing, the query is embedded
/// at search, and the answer is hybrid (no keyword-only notice).
#[tokio::test]
async fn with_an_embedding_model_search_is_hybrid() {
    let (endpoint, calls) = embeddings_stand_in().await;
    let app = crate::helpers::spawn_with(|s| {
        s.indexing.background = true;
        s.embeddings = Some(clment_handler::config::EmbeddingSettings {
            endpoint,
            deployment: "emb".into(),
            dimensions: 16,
            api_key: Some("stand-in-key".to_owned().into()),
        });
    })
    .await;
    let id = app
        .upload_text(
            "acme",
            "1. PAYMENT\nInvoices are payable within thirty days of receipt.\n\n2. TERM\nThis Agreement runs for two years.\n",
        )
        .await;
    let r = settled(&app, "acme", &id, Duration::from_secs(30)).await;
    assert_eq!(r["status"], "indexed", "{r}");
    assert!(
        calls.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "chunks were embedded"
    );
    let page = search(&app, "acme", &q("invoices payable")).await;
    assert_eq!(page["mode"], "hybrid", "{page}");
    assert!(page.get("notice").is_none(), "{page}");
    assert_eq!(page["items"][0]["contractId"], id.as_str());
}

/// Every CUAD dev contract, as text in one org and as its PDF in another: each indexes, and its
/// longest labelled clause, searched in its org, finds it first.
#[tokio::test]
async fn every_cuad_dev_contract_is_found_first_by_its_longest_labelled_clause() {
    let app = spawn_app().await;
    let labels = std::fs::read_to_string(shared("cuad/dev/labels.jsonl")).unwrap();
    let mut longest: std::collections::BTreeMap<String, String> = Default::default();
    for line in labels.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let slug = v["contract"].as_str().unwrap().to_owned();
        for a in v["answers"].as_array().unwrap() {
            let t = a["text"].as_str().unwrap();
            if longest.get(&slug).is_none_or(|l| t.len() > l.len()) {
                longest.insert(slug.clone(), t.to_owned());
            }
        }
    }
    let mut ids = Vec::new();
    for slug in longest.keys() {
        let txt = std::fs::read(shared(&format!("cuad/dev/{slug}.txt"))).unwrap();
        let pdf = std::fs::read(shared(&format!("cuad/dev/pdf/{slug}.pdf"))).unwrap();
        let t = upload(&app, "txt", txt, "text/plain", "c.txt").await;
        let p = upload(&app, "pdf", pdf, "application/pdf", "c.pdf").await;
        ids.push((slug.clone(), t, p));
    }
    let mut misses = Vec::new();
    for (slug, t, p) in &ids {
        for (org, id) in [("txt", t), ("pdf", p)] {
            let r = settled(&app, org, id, Duration::from_secs(300)).await;
            assert_eq!(r["status"], "indexed", "{slug} ({org}): {r}");
            let page = search(&app, org, &q(&clause_query(&longest[slug]))).await;
            if page["items"][0]["contractId"] != id.as_str() {
                misses.push(format!("{slug} ({org})"));
            }
        }
    }
    assert!(misses.is_empty(), "not first: {misses:?}");
    assert_eq!(ids.len(), 60);
}

/// The blob trigger on its own (workers off, as on Azure): a blob above the inline threshold is read
/// through the storage port instead of the payload's copy; a payload whose bytes are not the ones
/// uploaded is refused as an integrity failure, never indexed.
#[tokio::test]
async fn the_trigger_reads_large_blobs_through_the_store_and_checks_integrity() {
    let app = crate::helpers::spawn_with(|s| s.indexing.inline_max_bytes = 16).await;
    let text = "The Distributor shall purchase a minimum of ten thousand units per quarter.";
    let id = app.upload_text("acme", text).await;
    let invoke = |content: &str| {
        json!({
            "Data": { "blob": STANDARD.encode(content) },
            "Metadata": { "name": format!("\"acme/{id}/original\"") }
        })
    };
    // Larger than the threshold: the payload (here deliberately wrong) is ignored, the store is read.
    let resp = app
        .invoke("index-contract", &invoke("tampered bytes, not the upload"))
        .await;
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["Logs"][0].as_str().unwrap().contains("indexed"),
        "{body}"
    );
    assert_eq!(
        search(&app, "acme", &q("minimum units quarter")).await["items"][0]["contractId"],
        id.as_str()
    );

    // Under the threshold the payload's copy is used, and it must be the uploaded bytes.
    let app = crate::helpers::spawn_with(|_| {}).await;
    let id = app.upload_text("acme", "Tiny.").await;
    let resp = app
        .invoke(
            "index-contract",
            &json!({
                "Data": { "blob": STANDARD.encode("Other") },
                "Metadata": { "name": format!("\"acme/{id}/original\"") }
            }),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["Logs"][0]
            .as_str()
            .unwrap()
            .contains("failed: integrity"),
        "{body}"
    );
    let r = settled(&app, "acme", &id, Duration::from_secs(5)).await;
    assert_eq!(r["failure"]["code"], "integrity");
    assert_eq!(chunk_count(&app, "acme", &id).await, 0);
}
