//! Contract upload and storage on the local backend: round trips of the real corpus, hostile files,
//! type lies, size caps, idempotency, rename, delete, concurrency, and encryption at rest.

use clment_common::ports::JobQueue as _;
use std::path::{Path, PathBuf};

use clment_common::access::Role;
use clment_common::domain::Region;
use serde_json::{Value, json};
use sha2::Digest as _;

use clment_common::TenantScope;
use clment_common::domain::ContractId;
use clment_common::ports::ContractStatus;
use time::OffsetDateTime;

use crate::helpers::{Body, TestApp, assert_problem, audit_events, spawn_app, spawn_with};

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/docs")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("the shared corpus is missing at {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no files in {}", root.display());
    files
}

fn mime_for(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("pdf") => "application/pdf",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "text/plain",
    }
}

fn sha(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn member(app: &TestApp) -> String {
    app.token("acme", Role::Member, &["pwd"], Region::Us)
}

async fn upload_multipart(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
    mime: &str,
    title: Option<&str>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(mime)
            .unwrap(),
    );
    if let Some(t) = title {
        form = form.text("title", t.to_owned());
    }
    app.client
        .post(app.url("/api/orgs/acme/contracts"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Every good file uploads (raw and multipart alternately) and downloads byte for byte.
#[tokio::test]
async fn the_good_corpus_round_trips_byte_for_byte() {
    let app = spawn_app().await;
    let token = member(&app);
    for (i, path) in corpus("good").iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let resp = if i % 2 == 0 {
            app.send(
                "POST",
                "/api/orgs/acme/contracts",
                &token,
                Body::File(bytes.clone(), mime_for(path), Some(name.clone())),
            )
            .await
        } else {
            upload_multipart(
                &app,
                &token,
                bytes.clone(),
                &name,
                mime_for(path),
                Some("A title"),
            )
            .await
        };
        assert_eq!(resp.status(), 201, "{name}: {}", resp.text().await.unwrap());
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let created: Value = resp.json().await.unwrap();
        assert_eq!(created["sha256"], sha(&bytes), "{name}");
        assert_eq!(created["size"], bytes.len(), "{name}");
        assert_eq!(created["contentType"], mime_for(path), "{name}");
        assert_eq!(created["status"], "pending");
        assert_eq!(created["fileName"], name.as_str());

        let got: Value = app.get_as(&location, &token).await.json().await.unwrap();
        assert_eq!(got["id"], created["id"]);
        let download = app.get_as(&format!("{location}/content"), &token).await;
        assert_eq!(download.status(), 200);
        assert_eq!(download.headers()["content-type"], mime_for(path));
        assert_eq!(
            download.headers()["etag"],
            format!("\"{}\"", sha(&bytes)).as_str()
        );
        assert!(
            download.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        let body = download.bytes().await.unwrap();
        assert_eq!(sha(&body), sha(&bytes), "{name}: download differs");
    }
    // Each upload queued exactly one indexing job.
    assert_eq!(
        app.queue().count().await.unwrap() as usize,
        corpus("good").len()
    );
}

/// Hostile files never cause a 5xx: a clear 4xx, or accepted (extraction deals with them later).
#[tokio::test]
async fn hostile_files_get_a_clear_4xx_or_are_accepted() {
    let app = spawn_app().await;
    let token = member(&app);
    let mut outcomes = Vec::new();
    for path in corpus("hostile") {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let resp = app
            .send(
                "POST",
                "/api/orgs/acme/contracts",
                &token,
                Body::File(bytes, mime_for(&path), Some(name.clone())),
            )
            .await;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert!(
            status == 201 || (400..500).contains(&status),
            "{name}: {status} {body}"
        );
        outcomes.push((name, status, body["code"].as_str().unwrap_or("").to_owned()));
    }
    let outcome = |n: &str| {
        outcomes
            .iter()
            .find(|(name, ..)| name == n)
            .map(|(_, s, c)| (*s, c.clone()))
            .unwrap()
    };
    assert_eq!(outcome("empty.pdf"), (400, "empty_upload".into()));
    assert_eq!(outcome("empty.docx"), (400, "empty_upload".into()));
    assert_eq!(outcome("random-bytes.pdf").0, 415);
    assert_eq!(outcome("legacy-word97-ole-named.docx").0, 415);
    // A type lie: DOCX bytes sent as a PDF.
    assert_eq!(outcome("docx-content-named.pdf").0, 415);
    assert_eq!(
        app.get("/api/health").await.status(),
        200,
        "the process is still up"
    );
}

#[tokio::test]
async fn type_lies_and_unsupported_types_are_415_with_a_reason() {
    let app = spawn_app().await;
    let token = member(&app);
    let pdf = std::fs::read(&corpus("good")[0]).unwrap();
    let cases: Vec<(&str, Vec<u8>, &'static str, Option<&str>)> = vec![
        (
            "PDF bytes claimed as text",
            pdf.clone(),
            "text/plain",
            Some("a.txt"),
        ),
        (
            "PDF bytes named .docx",
            pdf.clone(),
            "application/octet-stream",
            Some("a.docx"),
        ),
        (
            "an image",
            b"\x89PNG\r\n\x1a\n....".to_vec(),
            "image/png",
            Some("a.png"),
        ),
        (
            "text claimed as PDF",
            b"Plain words".to_vec(),
            "application/pdf",
            Some("a.pdf"),
        ),
        (
            "binary junk",
            vec![0u8, 159, 146, 150, 1, 2, 3],
            "application/octet-stream",
            None,
        ),
    ];
    for (what, bytes, ct, name) in cases {
        let resp = app
            .send(
                "POST",
                "/api/orgs/acme/contracts",
                &token,
                Body::File(bytes, ct, name.map(str::to_owned)),
            )
            .await;
        let body = assert_problem(resp, 415, "unsupported_media_type").await;
        assert!(
            body["detail"].as_str().unwrap().len() > 10,
            "{what}: {body}"
        );
    }
    assert_eq!(
        app.queue().count().await.unwrap(),
        0,
        "refused uploads queue nothing"
    );
}

#[tokio::test]
async fn oversized_uploads_are_413_from_the_declared_length_and_while_streaming() {
    let app = spawn_with(|s| s.max_upload_bytes = 256 * 1024).await;
    let token = member(&app);
    // Declared too large: refused without reading the body (we only send 1 KiB of a declared 50 MB).
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    s.write_all(format!(
        "POST /api/orgs/acme/contracts HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/pdf\r\ncontent-length: 52428800\r\n\r\n%PDF-1.7\n"
    ).as_bytes()).await.unwrap();
    s.write_all(&[b' '; 1024]).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered before the body was sent")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Streamed without a length: refused once the running total passes the cap.
    let chunks = futures_util::stream::iter((0..64).map(|i| {
        Ok::<_, std::io::Error>(if i == 0 {
            b"%PDF-1.7\n".to_vec()
        } else {
            vec![b' '; 16 * 1024]
        })
    }));
    let resp = app
        .client
        .post(app.url("/api/orgs/acme/contracts"))
        .bearer_auth(&token)
        .header("content-type", "application/pdf")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 413, "payload_too_large").await;
    assert_eq!(body["maxBytes"], 256 * 1024);
    assert!(
        app.state
            .contracts
            .list(&TenantScope::for_tests("acme", Region::Us), 10, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_first_result() {
    let app = spawn_app().await;
    let token = member(&app);
    let send = |bytes: &'static [u8]| {
        app.client
            .post(app.url("/api/orgs/acme/contracts"))
            .bearer_auth(&token)
            .header("content-type", "text/plain")
            .header("idempotency-key", "upload-42")
            .body(bytes)
            .send()
    };
    let first: Value = send(b"First version.").await.unwrap().json().await.unwrap();
    let retry = send(b"First version.").await.unwrap();
    assert_eq!(retry.status(), 201);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    let page: Value = app
        .get_as("/api/orgs/acme/contracts", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // The same key for different bytes is a conflict, and stores nothing.
    assert_problem(send(b"Another file.").await.unwrap(), 409, "conflict").await;
    assert_eq!(app.queue().count().await.unwrap(), 1);
    let uploads = audit_events(&app, "acme")
        .await
        .iter()
        .filter(|e| e.event.action == "contract.uploaded")
        .count();
    assert_eq!(uploads, 1);
}

#[tokio::test]
async fn rename_list_and_pagination() {
    let app = spawn_app().await;
    let token = member(&app);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.upload_text("acme", &format!("Contract number {i}."))
                .await,
        );
    }
    let id = &ids[2];
    let resp = app
        .send(
            "PATCH",
            &format!("/api/orgs/acme/contracts/{id}"),
            &token,
            Body::Json(json!({ "title": "  Master   Services  " })),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["title"],
        "Master Services"
    );
    for bad in [json!({ "title": "" }), json!({ "title": "x".repeat(201) })] {
        assert_problem(
            app.send(
                "PATCH",
                &format!("/api/orgs/acme/contracts/{id}"),
                &token,
                Body::Json(bad),
            )
            .await,
            422,
            "invalid_request",
        )
        .await;
    }
    assert_problem(
        app.send(
            "PATCH",
            &format!("/api/orgs/acme/contracts/{id}"),
            &token,
            Body::Json(json!({ "name": "x" })),
        )
        .await,
        400,
        "malformed_json",
    )
    .await;
    let renamed = audit_events(&app, "acme")
        .await
        .into_iter()
        .find(|e| e.event.action == "contract.renamed")
        .unwrap();
    assert_eq!(renamed.event.details["before"]["title"], "contract.txt");

    let p1: Value = app
        .get_as("/api/orgs/acme/contracts?limit=2", &token)
        .await
        .json()
        .await
        .unwrap();
    let c = p1["continuation"].as_str().unwrap();
    let p2: Value = app
        .get_as(
            &format!("/api/orgs/acme/contracts?limit=2&continuation={c}"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    let c2 = p2["continuation"].as_str().unwrap();
    let p3: Value = app
        .get_as(
            &format!("/api/orgs/acme/contracts?limit=2&continuation={c2}"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(p3.get("continuation").is_none());
    let listed: Vec<String> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
        })
        .collect();
    ids.reverse();
    assert_eq!(listed, ids, "newest first across pages");
    for bad in ["limit=0", "limit=101", "continuation=zzz", "sort=asc"] {
        assert_problem(
            app.get_as(&format!("/api/orgs/acme/contracts?{bad}"), &token)
                .await,
            400,
            "invalid_query",
        )
        .await;
    }
    assert_problem(
        app.get_as("/api/orgs/acme/contracts/not-a-uuid", &token)
            .await,
        400,
        "invalid_path",
    )
    .await;
    assert_problem(
        app.get_as(
            "/api/orgs/acme/contracts/0190f0a0-0000-7000-8000-000000000000",
            &token,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn delete_leaves_nothing_but_the_audit_trail_and_is_idempotent() {
    let app = spawn_app().await;
    let admin = app.token("acme", Role::Admin, &["pwd"], Region::Us);
    let id = app.upload_text("acme", "Delete me. CANARY-del-9f1").await;
    let path = format!("/api/orgs/acme/contracts/{id}");
    assert_eq!(
        app.send("DELETE", &path, &admin, Body::None).await.status(),
        204
    );
    assert_problem(app.get_as(&path, &admin).await, 404, "not_found").await;
    assert_problem(
        app.get_as(&format!("{path}/content"), &admin).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.send("DELETE", &path, &admin, Body::None).await.status(),
        204
    );
    let page: Value = app
        .get_as("/api/orgs/acme/contracts", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(page["items"].as_array().unwrap().is_empty());
    // No blob left on disk, and the trail keeps both events.
    let blobs = app.state.documents.sweep(None, 100).await.unwrap().blobs;
    assert!(blobs.is_empty(), "{blobs:?}");
    let actions: Vec<String> = audit_events(&app, "acme")
        .await
        .into_iter()
        .map(|e| e.event.action)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "contract.deleted").count(),
        1
    );
    assert!(actions.contains(&"contract.uploaded".to_owned()));
    // Members may not delete.
    let id2 = app.upload_text("acme", "Keep me.").await;
    assert_problem(
        app.send(
            "DELETE",
            &format!("/api/orgs/acme/contracts/{id2}"),
            &member(&app),
            Body::None,
        )
        .await,
        403,
        "insufficient_role",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_uploads_all_land() {
    let app = spawn_app().await;
    let token = member(&app);
    let pdf = std::fs::read(&corpus("good")[0]).unwrap();
    let uploads = (0..50).map(|i| {
        let mut bytes = pdf.clone();
        bytes.extend_from_slice(format!("\n% copy {i}\n").as_bytes());
        app.send(
            "POST",
            "/api/orgs/acme/contracts",
            &token,
            Body::File(bytes, "application/pdf", Some(format!("c{i}.pdf"))),
        )
    });
    let results = futures_util::future::join_all(uploads).await;
    assert!(
        results.iter().all(|r| r.status() == 201),
        "{:?}",
        results
            .iter()
            .map(reqwest::Response::status)
            .collect::<Vec<_>>()
    );
    let page: Value = app
        .get_as("/api/orgs/acme/contracts?limit=100", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 50);
}

/// Contract bytes are encrypted at rest: a canary planted in a contract appears nowhere in the data dir.
#[tokio::test]
async fn a_canary_in_a_contract_never_reaches_the_data_directory_in_plain_text() {
    const CANARY: &str = "CANARY-at-rest-51c0ffee";
    // Indexing runs too: the extracted text, the chunks and the index must not leak it either (the
    // index splits words and lower-cases them, so its distinctive word is checked on its own).
    const WORD: &str = "51c0ffee";
    let app = crate::helpers::spawn_indexing().await;
    let token = member(&app);
    let text = format!("This Agreement contains a secret clause: {CANARY}.\n").repeat(5000);
    let id = app.upload_text("acme", &text).await;
    // A multipart upload too, with the canary in the file and the title.
    let resp = upload_multipart(
        &app,
        &token,
        text.clone().into_bytes(),
        "secret.txt",
        "text/plain",
        Some("Plain title"),
    )
    .await;
    assert_eq!(resp.status(), 201);
    for id in [
        id.clone(),
        resp.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    ] {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let r: Value = app
                .get_as(&format!("/api/orgs/acme/contracts/{id}"), &token)
                .await
                .json()
                .await
                .unwrap();
            if r["status"] == "indexed" {
                break;
            }
            assert!(std::time::Instant::now() < until, "not indexed: {r}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let data_dir = app.state.settings.backend.clone();
    let clment_handler::config::Backend::Local { data_dir } = data_dir else {
        panic!()
    };
    let mut scanned = 0;
    for entry in walk(&data_dir) {
        let bytes = std::fs::read(&entry).unwrap();
        scanned += bytes.len();
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "canary in {}",
            entry.display()
        );
        assert!(
            !bytes
                .windows(WORD.len())
                .any(|w| w.eq_ignore_ascii_case(WORD.as_bytes())),
            "the canary's word in {}",
            entry.display()
        );
    }
    assert!(scanned > text.len(), "the blob was scanned");
    // And it still reads back.
    let got = app
        .get_as(&format!("/api/orgs/acme/contracts/{id}/content"), &token)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(got, text);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

/// A multipart content type without a usable boundary is refused, never stored as text.
#[tokio::test]
async fn multipart_without_a_boundary_is_refused() {
    let app = spawn_app().await;
    let token = member(&app);
    for ct in ["multipart/form-data", "multipart/mixed"] {
        let resp = app
            .client
            .post(app.url("/api/orgs/acme/contracts"))
            .bearer_auth(&token)
            .header("content-type", ct)
            .body("--x\r\ncontent-disposition: form-data; name=\"file\"\r\n\r\nhello\r\n--x--\r\n")
            .send()
            .await
            .unwrap();
        assert_problem(resp, 400, "invalid_header").await;
    }
    assert_eq!(app.queue().count().await.unwrap(), 0);
}

/// Writes an original with no metadata, as a crash between the blob and its record leaves it.
async fn plant_orphan(app: &TestApp, scope: &TenantScope, text: &str) -> ContractId {
    let id = ContractId::new();
    let mut w = app.state.documents.begin(scope, id).await.unwrap();
    w.write(text.as_bytes()).await.unwrap();
    w.commit().await.unwrap();
    id
}

/// Moves a local original's last-modified time back.
fn age_blob(app: &TestApp, org: &str, id: ContractId, by: std::time::Duration) {
    let path = app.data_dir().join(format!("blobs/{org}/{id}.clmb"));
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - by)
        .unwrap();
}

/// Marks an uploaded contract `deleting` as of `at`, as a crash after the mark leaves it.
async fn mark_deleting(app: &TestApp, scope: &TenantScope, id: ContractId, at: OffsetDateTime) {
    let r = app.state.contracts.get(scope, id).await.unwrap().unwrap();
    let mut marked = r.clone();
    marked.status = ContractStatus::Deleting;
    marked.updated_at = at;
    app.state
        .contracts
        .replace(scope, marked, r.updated_at)
        .await
        .unwrap();
}

async fn has_blob(app: &TestApp, scope: &TenantScope, id: ContractId) -> bool {
    app.state.documents.open(scope, id).await.unwrap().is_some()
}

/// The periodic reconciler (the `reconcile` timer; locally also a background task) removes orphan blobs
/// and finishes interrupted deletes once they are older than the grace (15 minutes), and leaves younger
/// ones (an upload's blob exists briefly before its record; a delete is `deleting` briefly before its
/// purge) and live contracts alone. Overlapping runs are harmless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_reconciler_spares_what_is_younger_than_the_grace() {
    let app = spawn_app().await;
    let scope = TenantScope::for_tests("acme", Region::Us);
    let owner = app.token("acme", Role::Owner, &["pwd", "mfa"], Region::Us);
    let hour = std::time::Duration::from_secs(3600);
    let live = ContractId::parse(&app.upload_text("acme", "A live contract.").await).unwrap();
    let old_orphan = plant_orphan(&app, &scope, "An old orphan.").await;
    age_blob(&app, "acme", old_orphan, hour);
    let fresh_orphan = plant_orphan(&app, &scope, "An upload in flight.").await;
    let old_delete =
        ContractId::parse(&app.upload_text("acme", "Deleted long ago.").await).unwrap();
    mark_deleting(&app, &scope, old_delete, OffsetDateTime::now_utc() - hour).await;
    // Its blob is old too: a `deleting` record still owns it until the delete is finished.
    age_blob(&app, "acme", old_delete, hour);
    let fresh_delete =
        ContractId::parse(&app.upload_text("acme", "Being deleted now.").await).unwrap();
    mark_deleting(&app, &scope, fresh_delete, OffsetDateTime::now_utc()).await;
    age_blob(&app, "acme", fresh_delete, hour);

    let timer = json!({ "Data": { "timer": { "IsPastDue": false } }, "Metadata": {} });
    let resp = app.invoke("reconcile", &timer).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["Logs"],
        json!(["finished 1 interrupted deletes, removed 1 orphan blobs"])
    );

    assert!(
        !has_blob(&app, &scope, old_orphan).await,
        "the old orphan stays"
    );
    assert!(
        has_blob(&app, &scope, fresh_orphan).await,
        "an upload in flight lost its blob"
    );
    assert!(
        app.state
            .contracts
            .get(&scope, old_delete)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!has_blob(&app, &scope, old_delete).await);
    let pending = app.state.contracts.get(&scope, fresh_delete).await.unwrap();
    assert_eq!(pending.map(|r| r.status), Some(ContractStatus::Deleting));
    assert!(
        has_blob(&app, &scope, fresh_delete).await,
        "a delete in flight was purged"
    );
    let content = app
        .get_as(&format!("/api/orgs/acme/contracts/{live}/content"), &owner)
        .await;
    assert_eq!(content.status(), 200);
    assert_eq!(content.text().await.unwrap(), "A live contract.");

    // Runs on several instances at once: both succeed, nothing is left to do.
    let (a, b) = tokio::join!(
        app.invoke("reconcile", &timer),
        app.invoke("reconcile", &timer)
    );
    for r in [a, b] {
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["Logs"],
            json!(["finished 0 interrupted deletes, removed 0 orphan blobs"])
        );
    }
    assert!(has_blob(&app, &scope, fresh_orphan).await);
    assert!(has_blob(&app, &scope, live).await);

    // With no grace (as at start-up, when nothing is in flight) the young ones go too.
    let done = clment_handler::reconcile::reconcile(&app.state, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        done,
        clment_handler::reconcile::Reconciled {
            deletes_finished: 1,
            orphans_removed: 1
        }
    );
    assert!(!has_blob(&app, &scope, fresh_orphan).await);
    assert!(
        app.state
            .contracts
            .get(&scope, fresh_delete)
            .await
            .unwrap()
            .is_none()
    );
    assert!(has_blob(&app, &scope, live).await);
    let listed: Vec<_> = app
        .state
        .documents
        .sweep(None, 100)
        .await
        .unwrap()
        .blobs
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(listed, vec![live]);
}
