//! The whole bundle on the Azure backend, over HTTP: the same application the Functions host starts,
//! with every port served by the Azure adapters, against Azurite 3.37 (blob and queue services, from
//! npm) and the Azure SDK's in-memory Cosmos emulator. No hand-written fakes of Azure services.
//!
//! The identity server has no local implementation, so tokens come from the development issuer's key
//! and the application fetches its JWKS from a loopback HTTP server speaking the JWKS wire format, as
//! it would from the real issuer (`CLMENT_AUTH_JWKS_URL`).
//!
//! Auth to the emulators: shared-key signing over HTTP (test-only); production uses the managed
//! identity through `connect::connect`, exercised against Azurite over HTTPS in `signin_azurite.rs`.
//!
//! Azure AI Search has no local implementation either: the index is served by
//! `support/search_server.rs`, a local stand-in speaking its documented REST shapes (NOT the real
//! service). Extraction runs in-process here (this test executable is not the handler, so it cannot
//! start `handler extract-worker` processes; the worker processes are tested in `clment-extract` and
//! by the black-box tests).

mod support;

#[path = "support/search_server.rs"]
mod search_server;

#[path = "support/cosmos.rs"]
mod emulator;

use std::sync::Arc;

use clment_azure::audit::{
    AUDIT_CONTAINER, CosmosAudit, HEADS_CONTAINER, audit_container_properties,
    heads_container_properties,
};
use clment_azure::blob::BlobDocuments;
use clment_azure::connect::AzureBackend;
use clment_azure::cosmos::{
    CosmosContracts, DEFAULT_CONTAINER, DEFAULT_DATABASE, container_properties,
};
use clment_azure::queue::StorageQueueJobs;
use clment_azure::search::{AiSearchConfig, AiSearchIndex, SearchAuth};
use clment_azure::tenants::{CosmosApiKeys, CosmosOrgs};
use clment_azure::texts::BlobTexts;
use clment_common::TenantScope;
use clment_common::access::Role;
use clment_common::content::ContentKind;
use clment_common::domain::{ContractId, OrgId, Region, UserId};
use clment_common::ports::{
    ContractRecord, ContractStatus, ContractStore as _, DocumentStore as _, ExtractError,
    Extracted, Extractor, HealthCheck, SearchIndex,
};
use clment_handler::config::{Backend, Identity};
use clment_handler::{Application, Settings};
use clment_local::{DEV_ISSUER, DataDir, DevIssuer, DevTokenRequest};
use serde_json::{Value, json};
use support::azurite::Azurite;

/// A JWKS endpoint on loopback serving `jwks`.
async fn jwks_server(jwks: Value) -> String {
    use warp::Filter as _;
    let route = warp::path("jwks").map(move || warp::reply::json(&jwks));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    format!("http://{addr}/jwks")
}

/// Extraction in this process, with the production limits (see the module docs).
struct InProcess;

#[async_trait::async_trait]
impl Extractor for InProcess {
    async fn extract(&self, kind: ContentKind, bytes: Vec<u8>) -> Result<Extracted, ExtractError> {
        tokio::task::spawn_blocking(move || {
            let limits = clment_extract::Limits::default();
            match kind {
                ContentKind::Pdf => clment_extract::extract_pdf(bytes, &limits),
                ContentKind::Docx => clment_extract::extract_docx(&bytes, &limits),
                ContentKind::Text => clment_extract::extract_text(bytes, &limits),
            }
        })
        .await
        .map_err(|e| ExtractError::Unavailable(e.to_string()))?
    }
}

const SEARCH_KEY: &str = "stand-in-admin-key";

async fn backend() -> AzureBackend {
    let cosmos = emulator::client().await;
    cosmos
        .create_database(DEFAULT_DATABASE, None)
        .await
        .expect("database");
    emulator::provision_tenants(&cosmos).await;
    let db = cosmos.database_client(DEFAULT_DATABASE);
    db.create_container(container_properties(DEFAULT_CONTAINER), None)
        .await
        .expect("contracts container");
    db.create_container(audit_container_properties(AUDIT_CONTAINER), None)
        .await
        .expect("audit container");
    db.create_container(heads_container_properties(HEADS_CONTAINER), None)
        .await
        .expect("audit heads container");
    db.create_container(
        clment_azure::reviews::container_properties(clment_azure::reviews::REVIEWS_CONTAINER),
        None,
    )
    .await
    .expect("reviews container");

    let blob = Azurite::shared();
    let queue = Azurite::shared_queue();
    let container = format!("contracts-{}", uuid::Uuid::new_v4().simple());
    let documents = Arc::new(
        BlobDocuments::new(
            &blob.service_url(),
            None,
            Some(Azurite::client_options()),
            &container,
        )
        .unwrap(),
    );
    documents.ensure_container().await.unwrap();
    let jobs = Arc::new(
        StorageQueueJobs::new(
            &queue.service_url(),
            None,
            Some(Azurite::client_options()),
            &format!("jobs-{}", uuid::Uuid::new_v4().simple()),
        )
        .unwrap(),
    );
    jobs.ensure_queue().await.unwrap();
    let contracts = Arc::new(CosmosContracts::new(cosmos.clone()));
    let orgs = Arc::new(CosmosOrgs::new(cosmos.clone()));
    let api_keys = Arc::new(CosmosApiKeys::new(cosmos.clone()));
    let reviews = Arc::new(clment_azure::reviews::CosmosReviews::new(cosmos.clone()));
    let audit = Arc::new(CosmosAudit::new(cosmos));
    let texts = Arc::new(
        BlobTexts::new(
            &blob.service_url(),
            None,
            Some(Azurite::client_options()),
            &container,
        )
        .unwrap(),
    );
    let audit_archive = clment_azure::audit_archive::BlobAuditArchive::new(
        &blob.service_url(),
        None,
        Some(Azurite::client_options()),
        &format!("audit-{}", uuid::Uuid::new_v4().simple()),
    )
    .unwrap();
    audit_archive.ensure_container().await.unwrap();
    let server = search_server::SearchServer::start(SEARCH_KEY).await;
    let mut config = AiSearchConfig::new(
        server.endpoint().parse().unwrap(),
        SearchAuth::ApiKey(SEARCH_KEY.to_owned().into()),
    );
    config.index = format!("chunks-{}", uuid::Uuid::new_v4().simple());
    let index: Arc<dyn SearchIndex> = Arc::new(AiSearchIndex::new(config, None).unwrap());
    let health: Vec<Arc<dyn HealthCheck>> = vec![
        documents.clone(),
        contracts.clone(),
        orgs.clone(),
        api_keys.clone(),
        jobs.clone(),
        audit.clone(),
        reviews.clone(),
    ];
    AzureBackend {
        documents,
        contracts,
        orgs,
        api_keys,
        jobs,
        audit,
        reviews,
        index,
        texts,
        audit_archive: Arc::new(audit_archive),
        credential: Arc::new(NoCredential),
        health,
    }
}

/// The emulators are signed in with shared keys; nothing here asks for a token.
#[derive(Debug)]
struct NoCredential;

#[async_trait::async_trait]
impl clment_azure::connect::TokenCredential for NoCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            "no tokens in this test",
        ))
    }
}

struct App {
    base: String,
    http: reqwest::Client,
    issuer: DevIssuer,
    index: Arc<dyn SearchIndex>,
    archive: Arc<dyn clment_common::ports::AuditArchive>,
    _dir: tempfile::TempDir,
}

impl App {
    async fn start() -> Self {
        Self::start_on(backend().await, |_| {}).await
    }

    /// The application over `backend`, with settings adjusted by `tweak`.
    async fn start_on(backend: AzureBackend, tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let issuer = DevIssuer::load_or_create(&DataDir::open(dir.path()).unwrap()).unwrap();
        let jwks_url = jwks_server(serde_json::to_value(issuer.jwks()).unwrap()).await;
        let mut settings = Settings::for_tests(dir.path());
        settings.backend = Backend::Azure {
            blob_url: "https://unused.blob.core.windows.net".into(),
            cosmos_url: "https://unused.documents.azure.com".into(),
            queue_url: "https://unused.queue.core.windows.net".into(),
            cosmos_database: DEFAULT_DATABASE.into(),
            managed_identity_client_id: None,
            search_url: "https://unused.search.windows.net".into(),
            search_index: "unused".into(),
        };
        settings.identity = Identity::Issuer {
            issuer: DEV_ISSUER.into(),
            audience: "clment-api".into(),
            jwks_url,
        };
        // Azure takes its digest key from configuration (a Key Vault reference in production).
        let (_, seed) = clment_common::audit::DigestSigner::generate();
        settings.audit_signing_key = Some(secrecy::SecretString::from(seed.to_string()));
        tweak(&mut settings);
        let index = backend.index.clone();
        let archive = backend.audit_archive.clone();
        let app =
            Application::with_azure_and_extractor(settings, backend, Some(Arc::new(InProcess)))
                .await
                .expect("the application builds on the Azure adapters");
        assert_eq!(app.state().backend_name, "azure");
        assert!(app.state().local.is_none());
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until(std::future::pending()));
        Self {
            base,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            issuer,
            index,
            archive,
            _dir: dir,
        }
    }

    fn token(&self, org: &str, role: Role) -> String {
        self.issuer
            .mint(
                &DevTokenRequest {
                    org: OrgId::parse(org).unwrap(),
                    user: UserId::parse("user-1").unwrap(),
                    role,
                    amr: vec!["pwd".into(), "mfa".into()],
                    region: Region::Us,
                    email: Some("user-1@example.com".into()),
                    ttl_secs: 600,
                },
                "clment-api",
            )
            .unwrap()
    }

    /// Posts a function invocation as the Functions host does.
    async fn invoke(&self, function: &str, invocation: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/{function}", self.base))
            .header("content-type", "application/json")
            .body(invocation.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Delivers `acme/{id}/original` (holding `bytes`) to the blob trigger as the host does; returns
    /// its answer after checking it is a 200.
    async fn index_through_trigger(&self, id: &str, bytes: &[u8]) -> Value {
        let invocation = json!({
            "Data": { "blob": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes) },
            "Metadata": {
                "name": format!("\"acme/{id}/original\""),
                "Properties": { "ContentLength": bytes.len() },
            }
        });
        let resp = self.invoke("index-contract", &invocation).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    fn req(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// Uploads `text` as a plain-text contract of acme; returns its id.
    async fn upload_text(&self, text: &str, token: &str) -> String {
        let created: Value = self
            .req(reqwest::Method::POST, "/api/orgs/acme/contracts", token)
            .header("content-type", "text/plain")
            .body(text.to_owned())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    /// GETs `path` and returns its JSON body.
    async fn get_json(&self, path: &str, token: &str) -> Value {
        self.req(reqwest::Method::GET, path, token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_keys_and_the_audit_trail_work_end_to_end_on_azure() {
    let app = App::start().await;
    let owner = app.token("acme", Role::Owner);
    use reqwest::Method;

    // Readiness names every Azure component.
    let health: Value = app
        .http
        .get(format!("{}/api/health", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");

    // Upload (raw body), read back byte for byte, list, rename.
    let contract = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../../shared/data/docs/good/cuad__ADAMSGOLFINC-03-21-2005-EX-10-17-ENDORSEMENT-AGREEMENT.pdf",
        ),
    )
    .unwrap();
    let resp = app
        .req(Method::POST, "/api/orgs/acme/contracts", &owner)
        .header("content-type", "application/pdf")
        .header("content-disposition", "attachment; filename=\"msa.pdf\"")
        .header("idempotency-key", "upload-1")
        .body(contract.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    // The retry returns the first result.
    let again: Value = app
        .req(Method::POST, "/api/orgs/acme/contracts", &owner)
        .header("content-type", "application/pdf")
        .header("idempotency-key", "upload-1")
        .body(contract.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], id.as_str());
    let body = app
        .req(
            Method::GET,
            &format!("/api/orgs/acme/contracts/{id}/content"),
            &owner,
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), contract.as_slice());
    let list: Value = app
        .req(Method::GET, "/api/orgs/acme/contracts", &owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let renamed = app
        .req(
            Method::PATCH,
            &format!("/api/orgs/acme/contracts/{id}"),
            &owner,
        )
        .json(&json!({ "title": "Master agreement" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);

    // The blob trigger indexes it (on Azure nothing is queued by the upload); delivered again, it
    // leaves one set of chunks. Then it is searchable, by its own org only.
    let scope = TenantScope::for_operator(OrgId::parse("acme").unwrap(), Region::Us);
    let contract_id = ContractId::parse(&id).unwrap();
    let invocation = json!({
        "Data": { "blob": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &contract) },
        "Metadata": {
            "name": format!("\"acme/{id}/original\""),
            "Properties": { "ContentLength": contract.len() },
            "Metadata": { "orgid": "acme", "contractid": id },
        }
    });
    let mut chunks = 0;
    for (i, expect) in ["indexed", "already indexed", "already indexed"]
        .iter()
        .enumerate()
    {
        let resp = app
            .http
            .post(format!("{}/index-contract", app.base))
            .header("content-type", "application/json")
            .body(invocation.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["Logs"][0].as_str().unwrap().contains(expect),
            "{i}: {body}"
        );
        let n = app.index.count(&scope, contract_id).await.unwrap();
        assert!(n > 0);
        if i == 0 {
            chunks = n;
        }
        assert_eq!(n, chunks, "a redelivery changed the chunks");
    }
    let record: Value = app
        .req(
            Method::GET,
            &format!("/api/orgs/acme/contracts/{id}"),
            &owner,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["status"], "indexed", "{record}");
    let found: Value = app
        .req(Method::GET, "/api/orgs/acme/search?q=agreement", &owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["contractId"], id.as_str(), "{found}");
    assert_eq!(found["items"][0]["title"], "Master agreement");
    let theirs: Value = app
        .req(
            Method::GET,
            "/api/orgs/globex/search?q=agreement",
            &app.token("globex", Role::Owner),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        theirs["items"],
        json!([]),
        "another org found acme's chunks"
    );

    // Another org is refused at the gate.
    let other = app.token("globex", Role::Owner);
    let cross = app
        .req(
            Method::GET,
            &format!("/api/orgs/acme/contracts/{id}"),
            &other,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);

    // An API key, used.
    let key: Value = app
        .req(Method::POST, "/api/orgs/acme/api-keys", &owner)
        .json(&json!({ "name": "ci", "scopes": ["contracts:read"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = key["secret"].as_str().expect("the secret is shown once");
    let by_key = app
        .req(
            Method::GET,
            &format!("/api/orgs/acme/contracts/{id}"),
            secret,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 200);

    // Delete; the activity survives it.
    let deleted = app
        .req(
            Method::DELETE,
            &format!("/api/orgs/acme/contracts/{id}"),
            &owner,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.index.count(&scope, contract_id).await.unwrap(),
        0,
        "chunks survived the delete"
    );
    let found: Value = app
        .req(Method::GET, "/api/orgs/acme/search?q=agreement", &owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"], json!([]), "deleted text was found");
    let gone = app
        .req(
            Method::GET,
            &format!("/api/orgs/acme/contracts/{id}/content"),
            &owner,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let activity: Value = app
        .req(
            Method::GET,
            &format!("/api/orgs/acme/contracts/{id}/activity"),
            &owner,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "contract.deleted",
            "contract.indexed",
            "contract.renamed",
            "contract.uploaded"
        ]
    );

    // The org trail: exported, signed by the timer, verified.
    let timer = app
        .http
        .post(format!("{}/audit-digest", app.base))
        .header("content-type", "application/json")
        .body(r#"{"Data":{"timer":{}},"Metadata":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(timer.status(), 200);
    let export = app
        .req(Method::GET, "/api/orgs/acme/audit", &owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "contract.uploaded",
            "contract.renamed",
            "contract.indexed",
            "apikey.created",
            "contract.deleted"
        ]
    );
    let verify: Value = app
        .req(Method::GET, "/api/orgs/acme/audit/verify", &owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["verified"], true, "{verify}");
    assert_eq!(verify["digestsChecked"], 1);
    // The same timer copied the trail into the 90-day archive, up to its last event.
    let acme = TenantScope::for_tests("acme", Region::Us);
    assert_eq!(
        app.archive.archived_up_to(&acme).await.unwrap(),
        events.last().and_then(|e| e["seq"].as_u64())
    );
    // The refused cross-tenant request is in the caller's own trail.
    let theirs = app
        .req(Method::GET, "/api/orgs/globex/audit", &other)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(theirs.contains("\"access.denied\"") && theirs.contains("cross_tenant"));
}

/// The `reconcile` timer on the Azure adapters, fired as the host would: with no grace
/// (`CLMENT_RECONCILE_GRACE_SECS=0`) it removes a blob that has no metadata and finishes a delete left
/// `deleting`, and leaves a live contract untouched. A second run has nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_timer_removes_orphans_and_finishes_deletes_on_azure() {
    use reqwest::Method;
    let backend = backend().await;
    let documents = backend.documents.clone();
    let contracts = backend.contracts.clone();
    let app = App::start_on(backend, |s| s.reconcile_grace = std::time::Duration::ZERO).await;
    let owner = app.token("acme", Role::Owner);
    let scope = TenantScope::for_tests("acme", Region::Us);
    let put = |id: ContractId, text: &'static str| {
        let documents = documents.clone();
        let scope = scope.clone();
        async move {
            let mut w = documents.begin(&scope, id).await.unwrap();
            w.write(text.as_bytes()).await.unwrap();
            w.commit().await.unwrap();
        }
    };

    // A live contract, through the API.
    let resp = app
        .req(Method::POST, "/api/orgs/acme/contracts", &owner)
        .header("content-type", "text/plain")
        .header("content-disposition", "attachment; filename=\"live.txt\"")
        .body("A live contract.")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let live = ContractId::parse(created["id"].as_str().unwrap()).unwrap();
    // An upload that crashed between its blob and its metadata.
    let orphan = ContractId::new();
    put(orphan, "An orphan.").await;
    // A delete that crashed after marking the record: blob and record both still there.
    let deleting = ContractId::new();
    put(deleting, "Being deleted.").await;
    // Marked a few seconds ago (the in-memory emulator's string comparison of timestamps within the
    // current second is not dependable).
    let now = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let record = ContractRecord {
        id: deleting,
        org: scope.org().clone(),
        title: "Being deleted".into(),
        file_name: "deleted.txt".into(),
        content_type: "text/plain".into(),
        size: 14,
        sha256: "00".into(),
        status: ContractStatus::Pending,
        failure: None,
        created_by: UserId::parse("user-1").unwrap(),
        created_at: now,
        updated_at: now,
        idempotency_key: None,
    };
    contracts.create(&scope, record.clone()).await.unwrap();
    let mut marked = record.clone();
    marked.status = ContractStatus::Deleting;
    marked.updated_at = now + time::Duration::milliseconds(1);
    contracts
        .replace(&scope, marked, record.updated_at)
        .await
        .unwrap();

    let fire = || async {
        let resp = app
            .http
            .post(format!("{}/reconcile", app.base))
            .header("content-type", "application/json")
            .body(r#"{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["Logs"][0].as_str().unwrap().to_owned()
    };
    assert_eq!(
        fire().await,
        "finished 1 interrupted deletes, removed 1 orphan blobs"
    );
    assert!(documents.open(&scope, orphan).await.unwrap().is_none());
    assert!(documents.open(&scope, deleting).await.unwrap().is_none());
    assert!(contracts.get(&scope, deleting).await.unwrap().is_none());
    let content = app
        .req(
            Method::GET,
            &format!("/api/orgs/acme/contracts/{live}/content"),
            &owner,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), 200);
    assert_eq!(content.text().await.unwrap(), "A live contract.");
    assert_eq!(
        fire().await,
        "finished 0 interrupted deletes, removed 0 orphan blobs"
    );
}

/// CUAD dev contracts through the Azure path: uploaded over HTTP (nothing queued), indexed by the blob
/// trigger as the host delivers it, then each found first in its org by its longest labelled clause;
/// another org finds none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuad_contracts_index_through_the_blob_trigger_and_are_found_first() {
    use reqwest::Method;
    let app = App::start().await;
    let owner = app.token("acme", Role::Owner);
    let dev =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cuad/dev");
    let labels = std::fs::read_to_string(dev.join("labels.jsonl")).unwrap();
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
    let picked: Vec<(String, String)> = longest.into_iter().step_by(12).collect();
    let mut ids = Vec::new();
    for (i, (slug, _)) in picked.iter().enumerate() {
        // Alternately the text and the original PDF.
        let (bytes, ct) = if i % 2 == 0 {
            (
                std::fs::read(dev.join(format!("{slug}.txt"))).unwrap(),
                "text/plain",
            )
        } else {
            (
                std::fs::read(dev.join(format!("pdf/{slug}.pdf"))).unwrap(),
                "application/pdf",
            )
        };
        let created: Value = app
            .req(Method::POST, "/api/orgs/acme/contracts", &owner)
            .header("content-type", ct)
            .body(bytes.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["status"], "pending");
        let body = app.index_through_trigger(&id, &bytes).await;
        assert!(
            body["Logs"][0].as_str().unwrap().contains("indexed"),
            "{body}"
        );
        ids.push(id);
    }
    let other = app.token("globex", Role::Owner);
    for ((slug, clause), id) in picked.iter().zip(&ids) {
        let mut query = String::new();
        for w in clause.split_whitespace() {
            if query.len() + w.len() + 1 > 480 {
                break;
            }
            query.push_str(w);
            query.push(' ');
        }
        let q = serde_urlencoded::to_string([("q", query.trim_end())]).unwrap();
        let page: Value = app
            .req(Method::GET, &format!("/api/orgs/acme/search?{q}"), &owner)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            page["items"][0]["contractId"],
            id.as_str(),
            "{slug}: {page}"
        );
        let theirs: Value = app
            .req(Method::GET, &format!("/api/orgs/globex/search?{q}"), &other)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(theirs["items"], json!([]));
    }
}

/// Reviews on the Azure path: asked over HTTP (the job goes to the Storage queue), run by the
/// `run-job` queue trigger as the host delivers it (the decoded message in `Data.job`, JSON-encoded,
/// with a double-encoded `DequeueCount`), stored in Cosmos DB. A review of a contract that is not
/// indexed yet answers 500 (the host redelivers) until its last delivery, which gives it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_run_through_the_queue_trigger_on_azure() {
    use reqwest::Method;
    let app = App::start().await;
    let owner = app.token("acme", Role::Owner);
    let text = "SUPPLY AGREEMENT\n\n1. Supply. The Supplier shall supply the Products.\n\n\
                9. Governing Law. This Agreement shall be governed by the laws of the State of New York.\n";
    let upload = || app.upload_text(text, &owner);
    let ask = |id: String| {
        let app = &app;
        let owner = &owner;
        async move {
            let resp = app
                .req(
                    Method::POST,
                    &format!("/api/orgs/acme/contracts/{id}/reviews"),
                    owner,
                )
                .header("content-type", "application/json")
                .body(r#"{"categories":["governing-law"]}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 202);
            resp.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let deliver = |contract: &str, review: &str, delivery: u32| {
        let job =
            json!({ "kind": "run-review", "org": "acme", "contract": contract, "review": review });
        let invocation = json!({
            "Data": { "job": job.to_string() },
            "Metadata": { "DequeueCount": delivery.to_string(), "Id": "\"m-1\"" }
        });
        let app = &app;
        async move { app.invoke("run-job", &invocation).await }
    };

    // Indexed through the blob trigger, then reviewed through the queue trigger.
    let id = upload().await;
    app.index_through_trigger(&id, text.as_bytes()).await;
    let review = ask(id.clone()).await;
    let resp = deliver(&id, &review, 1).await;
    assert_eq!(resp.status(), 200);
    let log: Value = resp.json().await.unwrap();
    assert!(
        log["Logs"][0].as_str().unwrap().contains("completed"),
        "{log}"
    );
    let done: Value = app
        .req(
            Method::GET,
            &format!("/api/orgs/acme/contracts/{id}/reviews/{review}"),
            &owner,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let gl = &done["result"]["categories"][0];
    assert_eq!(gl["category"], "governing-law");
    for e in gl["excerpts"].as_array().unwrap() {
        let start = e["start"].as_u64().unwrap() as usize;
        let excerpt = e["text"].as_str().unwrap();
        assert_eq!(
            text.chars()
                .skip(start)
                .take(excerpt.chars().count())
                .collect::<String>(),
            excerpt
        );
    }
    // A second delivery of the same message does nothing.
    let again: Value = deliver(&id, &review, 2).await.json().await.unwrap();
    assert!(
        again["Logs"][0].as_str().unwrap().contains("skipped"),
        "{again}"
    );

    // Not indexed yet: redelivered until the last delivery, which gives the review up.
    let pending = upload().await;
    let waiting = ask(pending.clone()).await;
    assert_eq!(deliver(&pending, &waiting, 1).await.status(), 500);
    let resp = deliver(&pending, &waiting, 10).await;
    assert_eq!(resp.status(), 200);
    let gave_up: Value = app
        .req(
            Method::GET,
            &format!("/api/orgs/acme/contracts/{pending}/reviews/{waiting}"),
            &owner,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(gave_up["status"], "failed");
    assert_eq!(gave_up["failure"]["code"], "not_indexed");

    // A malformed message is refused (the host poisons it after its retries).
    let bad = app
        .invoke(
            "run-job",
            &json!({"Data": {"job": "not a job"}, "Metadata": {}}),
        )
        .await;
    assert_eq!(bad.status(), 400);
}

/// A review whose job cannot be queued (here a Storage queue that does not exist yet: Azurite
/// answers every send 404 `QueueNotFound`, as Storage does for a deleted or unprovisioned queue)
/// answers 503 and ends `failed` with `not_queued`, in its activity trail too, rather than staying
/// `queued` for ever or vanishing after its `review.requested` event; its Idempotency-Key is free
/// again, so once the queue is back the same key asks again, and a retry of that gets the new review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_that_cannot_be_queued_fails_and_can_be_asked_again_on_azure() {
    use reqwest::Method;
    let mut backend = backend().await;
    let queue = Arc::new(
        StorageQueueJobs::new(
            &Azurite::shared_queue().service_url(),
            None,
            Some(Azurite::client_options()),
            &format!("jobs-{}", uuid::Uuid::new_v4().simple()),
        )
        .unwrap(),
    );
    backend.jobs = queue.clone();
    let app = App::start_on(backend, |_| {}).await;
    let owner = app.token("acme", Role::Owner);
    let text = "SERVICES AGREEMENT\n\n7. Governing Law. This Agreement is governed by the laws of Ontario.\n";
    let id = app.upload_text(text, &owner).await;
    app.index_through_trigger(&id, text.as_bytes()).await;
    let reviews = format!("/api/orgs/acme/contracts/{id}/reviews");
    let ask = || {
        app.req(Method::POST, &reviews, &owner)
            .header("idempotency-key", "ask-once")
            .send()
    };

    let refused = ask().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "unavailable", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("could not be queued"),
        "{problem}"
    );
    let unqueued = problem["reviewId"].as_str().unwrap().to_owned();
    let failed = app.get_json(&format!("{reviews}/{unqueued}"), &owner).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failure"]["code"], "not_queued", "{failed}");
    assert!(failed["completedAt"].is_string(), "{failed}");
    let activity = app
        .get_json(&format!("/api/orgs/acme/contracts/{id}/activity"), &owner)
        .await;
    let events: Vec<(&str, &str, &str)> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resourceId"] == unqueued.as_str())
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("review.failed", "failure", "not_queued"),
            ("review.requested", "success", "")
        ],
        "{activity}"
    );

    // The queue is back: the same key asks again, and a retry of that is the new review.
    queue.ensure_queue().await.unwrap();
    let again = ask().await.unwrap();
    assert_eq!(again.status(), 202);
    let asked: Value = again.json().await.unwrap();
    assert_eq!(asked["status"], "queued", "{asked}");
    assert_ne!(asked["id"], unqueued.as_str());
    let retried: Value = ask().await.unwrap().json().await.unwrap();
    assert_eq!(retried["id"], asked["id"]);
    let listed = app.get_json(&reviews, &owner).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
}
