//! The Azure AI Search adapter against a stand-in server. NOT the real service: no emulator of Azure
//! AI Search exists, so `support/search_server.rs` is a local stand-in that speaks its documented REST
//! shapes (section 3 of azure-platform.md) and refuses any query without the org filter. These tests
//! prove the requests' shapes, batching, retries, auth and tenant filters; the real service's ranking
//! is not tested here.

#[path = "support/search_server.rs"]
mod search_server;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use clment_azure::search::{
    AiSearchConfig, AiSearchIndex, MAX_BATCH_BYTES, MAX_BATCH_DOCS, RetryPolicy, SearchAuth,
    TOKEN_SCOPE,
};
use clment_common::TenantScope;
use clment_common::domain::{ContractId, Region};
use clment_common::ports::{
    ChunkDoc, HealthCheck as _, PortError, SearchIndex, SearchMode, SearchQuery,
};
use search_server::{SearchServer, Signed};
use secrecy::SecretString;
use time::OffsetDateTime;

const KEY: &str = "stand-in-admin-key";
const INDEX: &str = "contract-chunks";

/// Short waits, so retries do not slow the tests down.
const FAST: RetryPolicy = RetryPolicy {
    attempts: 5,
    base_delay: Duration::from_millis(5),
    max_delay: Duration::from_millis(40),
};

fn config(server: &SearchServer, auth: SearchAuth, dims: Option<usize>) -> AiSearchConfig {
    AiSearchConfig {
        index: INDEX.to_owned(),
        vector_dimensions: dims,
        ..AiSearchConfig::new(server.endpoint().parse().expect("url"), auth)
    }
}

fn adapter(server: &SearchServer, dims: Option<usize>) -> AiSearchIndex {
    let auth = SearchAuth::ApiKey(SecretString::from(KEY));
    AiSearchIndex::new(config(server, auth, dims), None)
        .expect("adapter")
        .with_retry(FAST)
}

async fn ready(dims: Option<usize>) -> (SearchServer, AiSearchIndex) {
    let server = SearchServer::start(KEY).await;
    let index = adapter(&server, dims);
    index.ensure_ready().await.expect("ensure_ready");
    (server, index)
}

fn scope(name: &str) -> TenantScope {
    TenantScope::for_tests(name, Region::Eu)
}

fn chunk(contract: ContractId, ordinal: u32, text: String) -> ChunkDoc {
    let start = u64::from(ordinal) * 1000;
    ChunkDoc {
        id: ChunkDoc::id_for(contract, ordinal),
        contract,
        ordinal,
        start,
        end: start + text.chars().count() as u64,
        page_start: ordinal / 3 + 1,
        page_end: ordinal / 3 + 1,
        text,
        vector: None,
    }
}

fn chunks(contract: ContractId, n: u32, text: impl Fn(u32) -> String) -> Vec<ChunkDoc> {
    (0..n).map(|i| chunk(contract, i, text(i))).collect()
}

fn query(text: &str, contract: Option<ContractId>) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        contract,
        top: 10,
        skip: 0,
        vector: None,
    }
}

/// The document key of a chunk: `{org}={chunkId}`.
fn key(org: &str, chunk_id: &str) -> String {
    format!("{org}={chunk_id}")
}

fn org_filter(scope: &TenantScope) -> String {
    format!("orgId eq '{}'", scope.org())
}

/// The shared port suite, against the adapter and the stand-in; every query it caused carried an
/// org filter (the stand-in answers 400 otherwise, so the suite would have failed).
#[tokio::test]
async fn the_port_suite_passes() {
    let server = SearchServer::start(KEY).await;
    let index = adapter(&server, Some(3));
    clment_common::ports::suite::search_index(&index).await;
    let queries = server.queries();
    assert!(!queries.is_empty());
    assert!(
        queries.iter().all(|q| q.status == 200),
        "a query was refused"
    );
    assert!(queries.iter().all(|q| {
        q.filter
            .as_deref()
            .is_some_and(|f| f.starts_with("orgId eq 'suite-"))
    }),);
    assert!(
        server
            .seen()
            .iter()
            .all(|r| r.api_version.as_deref() == Some("2025-09-01")
                && r.signed == Signed::ApiKey(KEY.into()))
    );
}

/// Two orgs index the same text under the same contract id; each finds and counts only its own, every
/// query (searches, counts, and the id listings behind replace and delete) carried its own org's
/// filter, and every stored document carries the org of the scope that wrote it.
#[tokio::test]
async fn orgs_see_only_their_own() {
    let (server, index) = ready(None).await;
    let acme = scope("acme");
    let globex = scope("globex");
    let shared = ContractId::new();
    for s in [&acme, &globex] {
        server.clear_logs();
        index
            .replace_contract(
                s,
                shared,
                chunks(shared, 2, |i| format!("Shared termination clause {i}")),
            )
            .await
            .expect("replace");
        let queries = server.queries();
        assert_eq!(queries.len(), 1, "one id listing");
        assert_eq!(
            queries[0].filter.as_deref(),
            Some(format!("{} and contractId eq '{shared}'", org_filter(s)).as_str())
        );
        assert_eq!(queries[0].select.as_deref(), Some("id"));
    }
    // The same contract id in two orgs is two sets of documents, each carrying its writer's org.
    let docs = server.documents(INDEX);
    assert_eq!(docs.len(), 4);
    for (k, doc) in &docs {
        let org = doc["orgId"].as_str().expect("orgId");
        assert!(
            k.starts_with(&format!("{org}={shared}-")),
            "{k} stored with orgId {org}"
        );
    }
    let a = ContractId::new();
    let g = ContractId::new();
    index
        .replace_contract(
            &acme,
            a,
            chunks(a, 3, |i| format!("Termination for convenience, part {i}")),
        )
        .await
        .expect("acme");
    index
        .replace_contract(
            &globex,
            g,
            chunks(g, 2, |i| format!("Termination for convenience, part {i}")),
        )
        .await
        .expect("globex");
    let docs = server.documents(INDEX);
    for (k, doc) in &docs {
        if k.contains(&a.to_string()) {
            assert_eq!(doc["orgId"], "acme", "{k}");
        } else if k.contains(&g.to_string()) {
            assert_eq!(doc["orgId"], "globex", "{k}");
        }
    }
    for (s, own, other, n) in [(&acme, a, g, 3), (&globex, g, a, 2)] {
        server.clear_logs();
        let page = index
            .search(s, &query("termination convenience", None))
            .await
            .expect("search");
        assert!(
            page.hits
                .iter()
                .all(|h| h.contract == own || h.contract == shared)
        );
        assert_eq!(page.hits.iter().filter(|h| h.contract == own).count(), n);
        assert_eq!(page.mode, SearchMode::Keyword);
        let page = index
            .search(s, &query("termination", Some(other)))
            .await
            .expect("search");
        assert!(page.hits.is_empty(), "a contract filter crossed orgs");
        assert_eq!(index.count(s, other).await.expect("count"), 0);
        assert_eq!(index.count(s, own).await.expect("count"), n as u64);
        assert_eq!(index.count(s, shared).await.expect("count"), 2);
        index
            .delete_contract(s, other)
            .await
            .expect("delete other org's id");
        let queries = server.queries();
        assert_eq!(queries.len(), 6);
        for q in &queries {
            let filter = q.filter.as_deref().expect("filter");
            assert!(filter.starts_with(&org_filter(s)), "{filter}");
            assert_eq!(filter.matches("orgId eq").count(), 1);
        }
    }
    // Deleting the other org's contract id removed nothing of the other org's.
    assert_eq!(index.count(&globex, g).await.expect("count"), 2);
    assert_eq!(index.count(&acme, a).await.expect("count"), 3);
    // Deleting the shared id in one org leaves the other org's set.
    index.delete_contract(&acme, shared).await.expect("delete");
    assert_eq!(index.count(&acme, shared).await.expect("count"), 0);
    assert_eq!(index.count(&globex, shared).await.expect("count"), 2);
    let page = index
        .search(&globex, &query("shared termination", Some(shared)))
        .await
        .expect("search");
    assert_eq!(page.hits.len(), 2);
    assert_eq!(
        page.hits[0].chunk_id,
        ChunkDoc::id_for(shared, 0),
        "chunk ids come back without the org"
    );
}

#[tokio::test]
async fn the_contract_filter_narrows_within_the_org() {
    let (server, index) = ready(None).await;
    let acme = scope("acme");
    let (a, b) = (ContractId::new(), ContractId::new());
    for c in [a, b] {
        index
            .replace_contract(
                &acme,
                c,
                chunks(c, 4, |i| format!("Governing law is Delaware ({i})")),
            )
            .await
            .expect("replace");
    }
    let page = index
        .search(&acme, &query("Delaware", None))
        .await
        .expect("all");
    assert_eq!(page.hits.len(), 8);
    let page = index
        .search(&acme, &query("Delaware", Some(b)))
        .await
        .expect("one");
    assert_eq!(page.hits.len(), 4);
    assert!(page.hits.iter().all(|h| h.contract == b));
    let last = server.queries().pop().expect("query");
    assert_eq!(
        last.filter.as_deref(),
        Some(format!("orgId eq 'acme' and contractId eq '{b}'").as_str())
    );
    // Hits carry their place in the document.
    let hit = &page.hits[0];
    assert!(hit.text.starts_with("Governing law") && hit.end > hit.start && hit.page_start >= 1);
    // Paging: top 3 of 4, then the rest.
    let mut q = query("Delaware", Some(b));
    q.top = 3;
    let first = index.search(&acme, &q).await.expect("page 1");
    assert!(first.more && first.hits.len() == 3);
    q.skip = 3;
    let second = index.search(&acme, &q).await.expect("page 2");
    assert!(!second.more && second.hits.len() == 1);
    assert!(
        !first
            .hits
            .iter()
            .any(|h| h.chunk_id == second.hits[0].chunk_id)
    );
}

#[tokio::test]
async fn replacing_leaves_exactly_one_set() {
    let (server, index) = ready(None).await;
    let acme = scope("acme");
    let c = ContractId::new();
    for _ in 0..2 {
        index
            .replace_contract(&acme, c, chunks(c, 5, |i| format!("Clause {i}")))
            .await
            .expect("replace");
        assert_eq!(index.count(&acme, c).await.expect("count"), 5);
        assert_eq!(server.documents(INDEX).len(), 5);
    }
    // Shrinking removes the extra chunks, in a delete batch naming exactly them.
    server.clear_logs();
    index
        .replace_contract(&acme, c, chunks(c, 2, |i| format!("New clause {i}")))
        .await
        .expect("shrink");
    assert_eq!(index.count(&acme, c).await.expect("count"), 2);
    let docs = server.documents(INDEX);
    assert_eq!(
        docs.keys().cloned().collect::<Vec<_>>(),
        vec![
            key("acme", &ChunkDoc::id_for(c, 0)),
            key("acme", &ChunkDoc::id_for(c, 1))
        ]
    );
    assert_eq!(
        docs[&key("acme", &ChunkDoc::id_for(c, 0))]["content"],
        "New clause 0"
    );
    let batches = server.batches();
    assert_eq!(batches.len(), 2, "an upload batch and a delete batch");
    assert!(batches[0].actions.iter().all(|(a, _)| a == "upload"));
    let mut deleted: Vec<_> = batches[1]
        .actions
        .iter()
        .map(|(a, k)| (a.as_str(), k.clone()))
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        (2..5)
            .map(|i| ("delete", key("acme", &ChunkDoc::id_for(c, i))))
            .collect::<Vec<_>>()
    );
    // Delete: all gone, twice is fine, an empty replace is a delete too.
    index.delete_contract(&acme, c).await.expect("delete");
    index.delete_contract(&acme, c).await.expect("delete again");
    assert!(server.documents(INDEX).is_empty());
    index
        .replace_contract(&acme, c, chunks(c, 1, |_| "x".into()))
        .await
        .expect("one");
    index
        .replace_contract(&acme, c, Vec::new())
        .await
        .expect("none");
    assert_eq!(index.count(&acme, c).await.expect("count"), 0);
}

/// 2,500 chunks go up in batches of at most 1000 documents; the id listing pages through them, and
/// shrinking to 1,200 deletes 1,300 in batches of at most 1000.
#[tokio::test]
async fn large_contracts_go_in_batches_of_at_most_1000() {
    let (server, index) = ready(None).await;
    let acme = scope("acme");
    let c = ContractId::new();
    index
        .replace_contract(
            &acme,
            c,
            chunks(c, 2500, |i| format!("Chunk {i} of a long contract")),
        )
        .await
        .expect("replace");
    let batches = server.batches();
    assert_eq!(
        batches.iter().map(|b| b.docs).collect::<Vec<_>>(),
        [1000, 1000, 500]
    );
    assert!(batches.iter().all(|b| b.bytes <= MAX_BATCH_BYTES));
    assert_eq!(index.count(&acme, c).await.expect("count"), 2500);
    let listings = server.queries().len();
    assert_eq!(
        listings, 4,
        "three pages of ids (1000, 1000, 500), then the count"
    );

    server.clear_logs();
    index
        .replace_contract(&acme, c, chunks(c, 1200, |i| format!("Chunk {i}, revised")))
        .await
        .expect("shrink");
    let batches = server.batches();
    assert_eq!(
        batches.iter().map(|b| b.docs).collect::<Vec<_>>(),
        [1000, 200, 1000, 300]
    );
    assert_eq!(index.count(&acme, c).await.expect("count"), 1200);
    const { assert!(MAX_BATCH_DOCS <= search_server::MAX_DOCS) };
}

/// Large chunk texts: the 16 MB limit splits the batches long before 1000 documents.
#[tokio::test]
async fn the_size_limit_splits_batches_of_large_chunks() {
    let (server, index) = ready(None).await;
    let acme = scope("acme");
    let c = ContractId::new();
    let big = "Lorem ipsum dolor sit amet. ".repeat(32_000); // ~896 KB
    index
        .replace_contract(&acme, c, chunks(c, 40, |i| format!("{i} {big}")))
        .await
        .expect("replace");
    let batches = server.batches();
    assert!(batches.len() >= 3, "{} batches", batches.len());
    assert!(
        batches
            .iter()
            .all(|b| b.bytes <= MAX_BATCH_BYTES && b.docs < 1000)
    );
    // Each batch but the last is as full as the limit allows (one more document would not fit).
    for b in &batches[..batches.len() - 1] {
        assert!(
            b.bytes + big.len() > MAX_BATCH_BYTES,
            "a batch could hold more"
        );
    }
    assert_eq!(batches.iter().map(|b| b.docs).sum::<usize>(), 40);
    assert_eq!(server.documents(INDEX).len(), 40);
    // A single chunk too large for any batch is refused before anything is sent.
    server.clear_logs();
    let huge = "x".repeat(MAX_BATCH_BYTES);
    let err = index
        .replace_contract(&acme, c, vec![chunk(c, 0, huge)])
        .await
        .expect_err("too large");
    assert!(matches!(err, PortError::Unavailable(_)));
    assert!(server.batches().is_empty());
}

/// A 207 answer: only the failed documents are sent again, until they succeed.
#[tokio::test]
async fn failed_documents_are_retried_one_by_one() {
    let (server, index) = ready(None).await;
    let acme = scope("acme");
    let c = ContractId::new();
    let (k1, k3) = (
        key("acme", &ChunkDoc::id_for(c, 1)),
        key("acme", &ChunkDoc::id_for(c, 3)),
    );
    server.fail_once(&k1, 503);
    server.fail_once(&k1, 429);
    server.fail_once(&k3, 422);
    index
        .replace_contract(&acme, c, chunks(c, 5, |i| format!("Clause {i}")))
        .await
        .expect("replace after retries");
    let batches = server.batches();
    let sizes: Vec<_> = batches.iter().map(|b| b.docs).collect();
    assert_eq!(
        sizes,
        [5, 2, 1],
        "the whole batch, then the failed, then the still failing"
    );
    let mut second: Vec<_> = batches[1].actions.iter().map(|(_, k)| k.clone()).collect();
    second.sort();
    assert_eq!(second, vec![k1.clone(), k3]);
    assert_eq!(batches[2].actions[0].1, k1);
    assert_eq!(server.documents(INDEX).len(), 5);
}

/// A whole batch answered 503 with `Retry-After` is sent again after the wait.
#[tokio::test]
async fn a_busy_service_is_waited_for() {
    let (server, index) = ready(None).await;
    let acme = scope("acme");
    let c = ContractId::new();
    server.busy_once(503, 1);
    let started = Instant::now();
    index
        .replace_contract(&acme, c, chunks(c, 3, |i| format!("Clause {i}")))
        .await
        .expect("replace");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(
        server.batches().iter().map(|b| b.docs).collect::<Vec<_>>(),
        [3, 3]
    );
    assert_eq!(server.documents(INDEX).len(), 3);
}

/// A permanent document failure (and one that never stops being transient) is an error naming the
/// document and status, never its text, although the service's message quotes it.
#[tokio::test]
async fn permanent_failures_name_the_key_but_never_the_text() {
    let (server, index) = ready(None).await;
    let acme = scope("acme");
    let c = ContractId::new();
    let secret = "The purchase price is ninety million dollars";
    let failing = ChunkDoc::id_for(c, 2);
    server.fail_always(&key("acme", &failing), 400);
    let err = index
        .replace_contract(&acme, c, chunks(c, 4, |i| format!("{secret} ({i})")))
        .await
        .expect_err("permanent failure");
    let PortError::Unavailable(message) = &err else {
        panic!("{err:?}");
    };
    assert!(
        message.contains(&failing) && message.contains("400"),
        "{message}"
    );
    assert!(
        !message.contains("ninety") && !message.contains("purchase"),
        "{message}"
    );
    assert_eq!(server.batches().len(), 1, "a 400 is not retried");

    let c = ContractId::new();
    let failing = ChunkDoc::id_for(c, 0);
    server.fail_always(&key("acme", &failing), 503);
    server.clear_logs();
    let err = index
        .replace_contract(&acme, c, chunks(c, 2, |i| format!("{secret} ({i})")))
        .await
        .expect_err("never recovers");
    let message = err.to_string();
    assert!(
        message.contains(&failing) && message.contains("503"),
        "{message}"
    );
    assert!(!message.contains("ninety"), "{message}");
    assert_eq!(
        server.batches().len(),
        FAST.attempts as usize,
        "bounded attempts"
    );
}

#[tokio::test]
async fn the_schema_is_created_once_and_updated_idempotently() {
    let server = SearchServer::start(KEY).await;
    let index = adapter(&server, Some(8));
    index.ensure_ready().await.expect("create");
    index.ensure_ready().await.expect("again");
    let statuses: Vec<_> = server
        .seen()
        .iter()
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert_eq!(statuses, [("PUT".into(), 201), ("PUT".into(), 204)]);
    let def = server.definition(INDEX).expect("index");
    let field = |name: &str| {
        def["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no field {name}"))
            .clone()
    };
    assert_eq!(field("id")["key"], true);
    assert_eq!(field("orgId")["filterable"], true);
    assert_eq!(field("orgId")["searchable"], false);
    assert_eq!(field("contractId")["filterable"], true);
    assert_eq!(field("content")["searchable"], true);
    assert_eq!(field("content")["analyzer"], "en.lucene");
    for (name, ty) in [
        ("ordinal", "Edm.Int32"),
        ("start", "Edm.Int64"),
        ("end", "Edm.Int64"),
        ("pageStart", "Edm.Int32"),
        ("pageEnd", "Edm.Int32"),
    ] {
        assert_eq!(field(name)["type"], ty);
    }
    let vector = field("contentVector");
    assert_eq!(vector["dimensions"], 8);
    assert_eq!(vector["retrievable"], false);
    assert_eq!(def["vectorSearch"]["algorithms"][0]["kind"], "hnsw");
    assert_eq!(
        def["vectorSearch"]["algorithms"][0]["hnswParameters"]["metric"],
        "cosine"
    );
    assert!(index.probe().await.is_ok());
    // Other dimensions cannot be applied to the existing index.
    let other = adapter(&server, Some(16));
    assert!(matches!(
        other.ensure_ready().await,
        Err(PortError::Unavailable(_))
    ));
    // Without vectors: no vector field.
    let server = SearchServer::start(KEY).await;
    adapter(&server, None).ensure_ready().await.expect("create");
    let def = server.definition(INDEX).expect("index");
    assert!(def.get("vectorSearch").is_none());
    assert!(!def.to_string().contains("contentVector"));
}

#[tokio::test]
async fn a_missing_index_or_a_wrong_key_is_unavailable() {
    let server = SearchServer::start(KEY).await;
    let index = adapter(&server, None);
    let acme = scope("acme");
    let err = index
        .search(&acme, &query("anything", None))
        .await
        .expect_err("no index");
    assert_eq!(err, PortError::Unavailable("index missing".into()));
    assert!(
        index
            .probe()
            .await
            .expect_err("down")
            .contains("index missing")
    );
    let wrong = AiSearchIndex::new(
        config(
            &server,
            SearchAuth::ApiKey(SecretString::from("wrong")),
            None,
        ),
        None,
    )
    .expect("adapter");
    let err = wrong.ensure_ready().await.expect_err("401");
    assert!(err.to_string().contains("401"), "{err}");
    let unreachable = AiSearchIndex::new(
        AiSearchConfig::new(
            "http://127.0.0.1:9".parse().unwrap(),
            SearchAuth::ApiKey(SecretString::from(KEY)),
        ),
        None,
    )
    .expect("adapter")
    .with_retry(RetryPolicy {
        attempts: 2,
        ..FAST
    });
    assert!(matches!(
        unreachable.count(&acme, ContractId::new()).await,
        Err(PortError::Unavailable(_))
    ));
}

/// A token source that counts its calls and hands out the tokens it is given, in order (the last one
/// for ever).
#[derive(Debug)]
struct FakeCredential {
    tokens: Mutex<Vec<&'static str>>,
    scopes: Mutex<Vec<String>>,
}

impl FakeCredential {
    fn new(tokens: &[&'static str]) -> Arc<Self> {
        Arc::new(Self {
            tokens: Mutex::new(tokens.iter().rev().copied().collect()),
            scopes: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> usize {
        self.scopes.lock().unwrap().len()
    }
}

#[async_trait]
impl TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.scopes.lock().unwrap().push(scopes.join(" "));
        let mut tokens = self.tokens.lock().unwrap();
        let token = if tokens.len() > 1 {
            tokens.pop()
        } else {
            tokens.last().copied()
        };
        Ok(AccessToken::new(
            token.expect("a token"),
            OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}

/// Entra ID: `Authorization: Bearer` with the search scope, the token cached across requests, and
/// fetched again after a 401.
#[tokio::test]
async fn bearer_tokens_sign_requests_and_are_cached() {
    let server = SearchServer::start(KEY).await;
    server.accept_bearer("good-token");
    let credential = FakeCredential::new(&["stale-token", "good-token"]);
    let index = AiSearchIndex::new(
        config(&server, SearchAuth::Credential(credential.clone()), None),
        None,
    )
    .expect("adapter")
    .with_retry(FAST);
    let err = index.ensure_ready().await.expect_err("stale token");
    assert!(err.to_string().contains("credentials"), "{err}");
    index
        .ensure_ready()
        .await
        .expect("fresh token after the 401");
    let acme = scope("acme");
    let c = ContractId::new();
    index
        .replace_contract(&acme, c, chunks(c, 3, |i| format!("Clause {i}")))
        .await
        .expect("replace");
    assert_eq!(
        index
            .search(&acme, &query("clause", None))
            .await
            .expect("search")
            .hits
            .len(),
        3
    );
    assert_eq!(credential.calls(), 2, "one token per 401, cached otherwise");
    assert!(
        credential
            .scopes
            .lock()
            .unwrap()
            .iter()
            .all(|s| s == TOKEN_SCOPE)
    );
    let seen = server.seen();
    assert_eq!(seen[0].signed, Signed::Bearer("stale-token".into()));
    assert_eq!(seen[0].status, 401);
    assert!(
        seen[1..]
            .iter()
            .all(|r| r.signed == Signed::Bearer("good-token".into()) && r.status < 300)
    );
}

/// With a query vector the search is hybrid (vector query sent, pre-filtered); without one, or with a
/// vector the index cannot take, it is by words only.
#[tokio::test]
async fn vectors_make_searches_hybrid() {
    let (server, index) = ready(Some(3)).await;
    let acme = scope("acme");
    let c = ContractId::new();
    // By words "payment clause due" ranks 1, 2, 0; by meaning the query is nearest to 2, so fused by
    // reciprocal rank 2 leads (1/62 + 1/61 beats 1/61 + 1/63).
    let texts = ["Payment", "Payment clause due", "Payment clause"];
    let mut docs = chunks(c, 3, |i| texts[i as usize].to_owned());
    for (i, d) in docs.iter_mut().enumerate() {
        let mut v = vec![0.0; 3];
        v[i] = 1.0;
        d.vector = Some(v);
    }
    index
        .replace_contract(&acme, c, docs)
        .await
        .expect("replace");
    let stored = server.documents(INDEX);
    assert_eq!(
        stored[&key("acme", &ChunkDoc::id_for(c, 2))]["contentVector"],
        serde_json::json!([0.0, 0.0, 1.0])
    );
    let mut q = query("payment clause due", Some(c));
    let page = index.search(&acme, &q).await.expect("keyword");
    assert_eq!(page.mode, SearchMode::Keyword);
    assert_eq!(page.hits[0].chunk_id, ChunkDoc::id_for(c, 1));
    assert!(!server.queries().pop().unwrap().vector);
    q.vector = Some(vec![0.0, 0.0, 1.0]);
    let page = index.search(&acme, &q).await.expect("hybrid");
    assert_eq!(page.mode, SearchMode::Hybrid);
    assert_eq!(page.hits[0].chunk_id, ChunkDoc::id_for(c, 2));
    assert!(page.hits.iter().all(|h| h.score > 0.0 && h.contract == c));
    let sent = server.queries().pop().unwrap();
    assert!(sent.vector && sent.status == 200);
    // Vectors of another length: words only.
    q.vector = Some(vec![1.0; 5]);
    assert_eq!(
        index.search(&acme, &q).await.expect("fallback").mode,
        SearchMode::Keyword
    );
    // An index without vectors never gets them.
    let (server, plain) = ready(None).await;
    plain
        .replace_contract(&acme, c, chunks(c, 1, |_| "Payment".into()))
        .await
        .expect("replace");
    assert!(
        !server.documents(INDEX)[&key("acme", &ChunkDoc::id_for(c, 0))]
            .contains_key("contentVector")
    );
    q.vector = Some(vec![0.0, 0.0, 1.0]);
    assert_eq!(
        plain.search(&acme, &q).await.expect("plain").mode,
        SearchMode::Keyword
    );
}

/// The user's words are literal: query operators cannot widen or negate the search.
#[tokio::test]
async fn query_operators_are_taken_literally() {
    let (server, index) = ready(None).await;
    let acme = scope("acme");
    let c = ContractId::new();
    index
        .replace_contract(
            &acme,
            c,
            chunks(c, 2, |i| {
                if i == 0 {
                    "non-compete covenant".into()
                } else {
                    "payment".into()
                }
            }),
        )
        .await
        .expect("replace");
    let page = index
        .search(&acme, &query("non-compete -payment", None))
        .await
        .expect("search");
    let sent = server.queries().pop().unwrap();
    assert_eq!(sent.search.as_deref(), Some(r"non\-compete \-payment"));
    assert_eq!(page.hits[0].chunk_id, ChunkDoc::id_for(c, 0));
}
