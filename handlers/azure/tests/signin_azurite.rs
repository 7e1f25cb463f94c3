//! The production sign-in path against Azurite: HTTPS with a certificate from a test CA made here, and
//! Entra ID bearer tokens (Azurite's `--oauth basic` checks the token's claims, lifetime, issuer and
//! audience, not its signature). The adapters are built by `connect::assemble`, the code `connect` runs
//! in production, with a `TokenCredential` and a transport that trusts the test CA; only the credential
//! (an unsigned JWT instead of a managed identity's) and the transport's roots differ from production.
//! Cosmos DB is the SDK's in-memory emulator (`support/cosmos.rs`), which does not check tokens.

mod support;

#[path = "support/cosmos.rs"]
mod emulator;

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_storage_queue::models::QueueClientPeekMessagesOptions;
use azure_storage_queue::{QueueClient, QueueClientOptions};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clment_azure::connect::{AzureBackend, AzureEndpoints, assemble};
use clment_azure::queue::StorageQueueJobs;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{HealthCheck, Job, JobSink as _, suite};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use support::azurite::{Azurite, Service};
use time::OffsetDateTime;

/// The storage audience Azurite accepts (and the one Entra ID issues for the storage scope).
const STORAGE_AUDIENCE: &str = "https://storage.azure.com";

/// A CA, and a leaf for 127.0.0.1 and localhost signed by it (a self-signed leaf would fail in rustls
/// with `CaUsedAsEndEntity`). PEM files in `dir`.
struct TestPki {
    ca_pem: String,
    dir: tempfile::TempDir,
}

impl TestPki {
    fn new() -> Self {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "clment test CA");
        let ca_key = KeyPair::generate().expect("ca key");
        let ca_cert = ca.self_signed(&ca_key).expect("ca certificate");
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("leaf params");
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_cert = leaf
            .signed_by(&leaf_key, &issuer)
            .expect("leaf certificate");

        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("leaf.pem"), leaf_cert.pem()).expect("write cert");
        std::fs::write(dir.path().join("leaf.key"), leaf_key.serialize_pem()).expect("write key");
        Self {
            ca_pem: ca_cert.pem(),
            dir,
        }
    }

    fn cert(&self) -> std::path::PathBuf {
        self.dir.path().join("leaf.pem")
    }

    fn key(&self) -> std::path::PathBuf {
        self.dir.path().join("leaf.key")
    }
}

/// Azurite's blob and queue services over HTTPS with OAuth, shared by this test binary.
struct Emulators {
    pki: TestPki,
    blob: Azurite,
    queue: Azurite,
}

fn emulators() -> &'static Emulators {
    static EMULATORS: OnceLock<Emulators> = OnceLock::new();
    EMULATORS.get_or_init(|| {
        let pki = TestPki::new();
        let blob = Azurite::start_oauth(Service::Blob, &pki.cert(), &pki.key());
        let queue = Azurite::start_oauth(Service::Queue, &pki.cert(), &pki.key());
        Emulators { pki, blob, queue }
    })
}

/// Hands out unsigned JWTs with the claims Azurite's basic OAuth checks, for `audience`, and
/// remembers the scopes it was asked for.
#[derive(Debug)]
struct UnsignedJwtCredential {
    audience: String,
    scopes: Mutex<Vec<String>>,
}

impl UnsignedJwtCredential {
    fn new(audience: &str) -> Arc<Self> {
        Arc::new(Self {
            audience: audience.to_owned(),
            scopes: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl TokenCredential for UnsignedJwtCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.scopes
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| (*s).to_owned()));
        let now = OffsetDateTime::now_utc();
        let expires = now + time::Duration::hours(1);
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let header = serde_json::json!({"alg": "none", "typ": "JWT"});
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": format!("https://sts.windows.net/{tenant}/"),
            "iat": now.unix_timestamp() - 60,
            "nbf": now.unix_timestamp() - 60,
            "exp": expires.unix_timestamp(),
            "oid": "00000000-0000-0000-0000-00000000c1e1",
            "tid": tenant,
        });
        let token = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        Ok(AccessToken::new(token, expires))
    }
}

/// A reqwest transport that trusts only the test CA, and no retries (a TLS failure would otherwise be
/// retried for a minute or more).
fn options(ca_pem: Option<&str>) -> ClientOptions {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(20));
    if let Some(pem) = ca_pem {
        builder = builder.tls_certs_only([
            reqwest::Certificate::from_pem(pem.as_bytes()).expect("CA certificate")
        ]);
    }
    ClientOptions {
        transport: Some(Transport::new(Arc::new(builder.build().expect("client")))),
        retry: RetryOptions::none(),
        ..Default::default()
    }
}

async fn backend(credential: Arc<dyn TokenCredential>, ca_pem: Option<&str>) -> AzureBackend {
    let e = emulators();
    let mut endpoints = AzureEndpoints::new(
        e.blob.service_url().parse().expect("blob url"),
        "https://clment.documents.azure.com"
            .parse()
            .expect("cosmos url"),
        e.queue.service_url().parse().expect("queue url"),
    );
    endpoints.blob_container = "signin".into();
    endpoints.jobs_queue = "signin-jobs".into();
    // Assembled only (no request reaches it here).
    endpoints.search = Some("https://unused.search.windows.net".parse().unwrap());
    assemble(
        &endpoints,
        credential,
        emulator::client().await,
        Some(options(ca_pem)),
    )
    .expect("assembled")
}

/// Waits until the HTTPS service answers this check (Azurite accepts connections slightly before it
/// serves them), then returns its last result.
async fn settle(check: &dyn HealthCheck) -> Result<(), String> {
    let mut last = check.probe().await;
    for _ in 0..50 {
        match &last {
            Err(e) if e.contains("error sending request") || e.contains("connect") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                last = check.probe().await;
            }
            _ => break,
        }
    }
    last
}

fn small_files() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/docs/good");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("the shared corpus is missing at {}: {e}", root.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut out: Vec<Vec<u8>> = files
        .iter()
        .take(2)
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    // Past one 4 MiB block, so staged blocks and the block list go through the signed path too.
    out.push(
        (0..5 * 1024 * 1024 + 17u32)
            .map(|i| (i % 251) as u8)
            .collect(),
    );
    out
}

#[tokio::test]
async fn documents_and_jobs_work_over_https_with_entra_tokens() {
    let pki_ca = emulators().pki.ca_pem.clone();
    let credential = UnsignedJwtCredential::new(STORAGE_AUDIENCE);
    let backend = backend(credential.clone(), Some(&pki_ca)).await;

    // Dev-only provisioning (production's identity cannot and infrastructure does it), then the
    // readiness checks production runs.
    backend
        .documents
        .ensure_container()
        .await
        .expect("container");
    backend.jobs.ensure_queue().await.expect("queue");
    assert_eq!(settle(backend.documents.as_ref()).await, Ok(()));
    assert_eq!(settle(backend.jobs.as_ref()).await, Ok(()));

    suite::document_store(backend.documents.as_ref(), &small_files()).await;

    let job = Job::IndexContract {
        org: OrgId::parse("acme").unwrap(),
        contract: ContractId::new(),
        size: Some(7),
    };
    let id = backend.jobs.enqueue(job.clone()).await.expect("enqueue");
    // Read back with a plain SDK client on the same signed-in path.
    let url = format!("{}/signin-jobs", emulators().queue.service_url());
    let raw = QueueClient::new(
        url.parse().unwrap(),
        Some(credential.clone()),
        Some(QueueClientOptions {
            client_options: options(Some(&pki_ca)),
            ..Default::default()
        }),
    )
    .unwrap();
    let peeked = raw
        .peek_messages(Some(QueueClientPeekMessagesOptions {
            number_of_messages: Some(32),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .items
        .unwrap_or_default();
    let found = peeked
        .iter()
        .find(|m| m.message_id.as_deref() == Some(id.as_str()))
        .expect("the enqueued message");
    assert_eq!(
        StorageQueueJobs::decode(found.message_text.as_deref().unwrap()).unwrap(),
        job
    );

    // Every request carried a token for Azure Storage, the scope the managed identity is asked for.
    let scopes = credential.scopes.lock().unwrap().clone();
    assert!(!scopes.is_empty());
    assert!(
        scopes
            .iter()
            .all(|s| s == "https://storage.azure.com/.default"),
        "{scopes:?}"
    );
}

/// Azurite really checks the tokens and the TLS is real: a token for another audience is refused, and
/// a transport that does not trust the test CA cannot connect. Both surface as down health checks and
/// failing operations, never as success.
#[tokio::test]
async fn wrong_audiences_and_untrusted_certificates_are_refused() {
    let pki_ca = emulators().pki.ca_pem.clone();
    // Make sure the services are up and provisioned first.
    let good = backend(UnsignedJwtCredential::new(STORAGE_AUDIENCE), Some(&pki_ca)).await;
    good.documents.ensure_container().await.expect("container");
    good.jobs.ensure_queue().await.expect("queue");
    assert_eq!(settle(good.jobs.as_ref()).await, Ok(()));
    assert_eq!(settle(good.documents.as_ref()).await, Ok(()));

    let wrong = backend(
        UnsignedJwtCredential::new("https://vault.azure.net"),
        Some(&pki_ca),
    )
    .await;
    for check in [&wrong.health[0], &wrong.health[4]] {
        let reason = check
            .probe()
            .await
            .expect_err("a wrong audience was accepted");
        assert!(
            reason.contains("401") || reason.contains("403"),
            "{}: {reason}",
            check.name()
        );
    }
    let job = Job::IndexContract {
        org: OrgId::parse("acme").unwrap(),
        contract: ContractId::new(),
        size: None,
    };
    assert!(wrong.jobs.enqueue(job.clone()).await.is_err());

    let untrusted = backend(UnsignedJwtCredential::new(STORAGE_AUDIENCE), None).await;
    for check in [&untrusted.health[0], &untrusted.health[4]] {
        assert!(
            check.probe().await.is_err(),
            "{}: connected without trusting the CA",
            check.name()
        );
    }
    assert!(untrusted.jobs.enqueue(job).await.is_err());
}
