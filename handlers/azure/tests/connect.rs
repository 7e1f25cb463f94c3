//! Building the production backend: [`assemble`] wires every adapter to one credential without any
//! I/O (Cosmos DB here is the SDK's in-memory emulator, see `support/cosmos.rs`), and [`connect`]
//! reports an unreachable Cosmos DB account instead of hanging.

#[path = "support/cosmos.rs"]
mod emulator;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::{ClientOptions, RetryOptions};
use clment_azure::connect::{AzureEndpoints, ConnectError, assemble, connect};
use clment_common::TenantScope;
use clment_common::domain::Region;
use clment_common::ports::{ApiKeyStore as _, OrgStore as _};
use time::OffsetDateTime;

/// A credential that hands out a fixed (meaningless) token and remembers the scopes it was asked for.
#[derive(Debug, Default)]
struct StubCredential {
    scopes: Mutex<Vec<String>>,
}

#[async_trait]
impl TokenCredential for StubCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.scopes
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| (*s).to_owned()));
        Ok(AccessToken::new(
            "stub-token",
            OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}

fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn endpoints(port: u16) -> AzureEndpoints {
    let mut e = AzureEndpoints::new(
        format!("https://127.0.0.1:{port}/blobacct")
            .parse()
            .unwrap(),
        format!("https://127.0.0.1:{port}/").parse().unwrap(),
        format!("https://127.0.0.1:{port}/queueacct")
            .parse()
            .unwrap(),
    );
    e.search = Some(format!("https://127.0.0.1:{port}/").parse().unwrap());
    e
}

fn no_retries() -> ClientOptions {
    ClientOptions {
        retry: RetryOptions::none(),
        ..Default::default()
    }
}

#[tokio::test]
async fn assemble_wires_every_adapter_to_the_credential_without_io() {
    let cosmos = emulator::client().await;
    let credential = Arc::new(StubCredential::default());
    let backend = assemble(
        &endpoints(closed_port()),
        credential.clone(),
        cosmos.clone(),
        Some(no_retries()),
    )
    .expect("assembled");
    assert_eq!(
        backend.health.iter().map(|h| h.name()).collect::<Vec<_>>(),
        vec![
            "blob-storage",
            "cosmos-db",
            "cosmos-orgs",
            "cosmos-api-keys",
            "storage-queue",
            "cosmos-audit",
            "cosmos-reviews",
            "ai-search"
        ]
    );
    assert!(
        credential.scopes.lock().unwrap().is_empty(),
        "no token fetched while assembling"
    );

    // The Cosmos adapters share the client: with the containers provisioned, they work.
    emulator::provision_tenants(&cosmos).await;
    let acme = TenantScope::for_tests("acme", Region::Us);
    let org = backend
        .orgs
        .get_or_create(&acme, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(org.org_id.as_str(), "acme");
    assert_eq!(backend.api_keys.list(&acme).await.unwrap(), Vec::new());

    // The storage clients sign with the credential (a token for Azure Storage is requested), and an
    // unreachable account is reported down, not hung on.
    for check in [&backend.health[0], &backend.health[4]] {
        assert!(check.probe().await.is_err(), "{} is up", check.name());
    }
    let scopes = credential.scopes.lock().unwrap().clone();
    assert!(
        scopes
            .iter()
            .any(|s| s == "https://storage.azure.com/.default"),
        "{scopes:?}"
    );
}

#[tokio::test]
async fn plain_http_endpoints_are_refused() {
    let cosmos = emulator::client().await;
    let mut e = endpoints(closed_port());
    e.blob = "http://127.0.0.1:1/blobacct".parse().unwrap();
    assert!(matches!(
        assemble(
            &e,
            Arc::new(StubCredential::default()),
            cosmos.clone(),
            None
        ),
        Err(ConnectError::Config(_))
    ));
    let mut e = endpoints(closed_port());
    e.jobs_queue = "Not A Queue".into();
    assert!(matches!(
        assemble(
            &e,
            Arc::new(StubCredential::default()),
            cosmos.clone(),
            None
        ),
        Err(ConnectError::Config(_))
    ));
    let mut e = endpoints(closed_port());
    e.orgs_container = "a/b".into();
    assert!(matches!(
        assemble(&e, Arc::new(StubCredential::default()), cosmos, None),
        Err(ConnectError::Config(_))
    ));
}

#[tokio::test]
async fn connect_reports_an_unreachable_cosmos_account() {
    let started = Instant::now();
    let result = connect(
        &endpoints(closed_port()),
        Arc::new(StubCredential::default()),
    )
    .await;
    assert!(matches!(result, Err(ConnectError::Cosmos(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(70));
}
