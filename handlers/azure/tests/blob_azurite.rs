//! The Blob Storage adapter against Azurite 3.37, Microsoft's local emulator for Azure Storage
//! (installed from npm by `scripts/test`): not the real service, but the same REST API and the real
//! SDK client. One emulator is started per test binary (see `support/azurite.rs`).
//!
//! Auth: plain HTTP with a test-only shared-key signing policy in the client options (no
//! credential). Production passes a managed-identity `TokenCredential` instead, a path these tests
//! do not exercise.

mod support;

use std::path::Path;

use azure_storage_blob::BlobContainerClient;
use azure_storage_blob::models::{
    BlobClientGetPropertiesResultHeaders as _, BlobContainerClientListBlobsOptions,
};
use clment_azure::blob::{BlobDocuments, DEFAULT_CONTAINER};
use clment_common::TenantScope;
use clment_common::domain::{ContractId, Region};
use clment_common::ports::{DocumentStore, HealthCheck, PortError, suite};
use futures_util::{StreamExt as _, TryStreamExt as _};
use sha2::{Digest as _, Sha256};
use support::azurite::Azurite;

async fn store() -> BlobDocuments {
    let azurite = Azurite::shared();
    let docs = BlobDocuments::new(
        &azurite.service_url(),
        None,
        Some(Azurite::client_options()),
        DEFAULT_CONTAINER,
    )
    .expect("adapter");
    docs.ensure_container().await.expect("container");
    docs
}

/// A fresh org per test, so tests sharing the emulator never see each other's blobs.
fn scope() -> TenantScope {
    TenantScope::for_tests(
        &format!("org-{}", uuid::Uuid::new_v4().simple()),
        Region::Us,
    )
}

async fn put(
    store: &BlobDocuments,
    scope: &TenantScope,
    id: ContractId,
    bytes: &[u8],
    chunk: usize,
) -> Result<u64, PortError> {
    let mut w = store.begin(scope, id).await?;
    for c in bytes.chunks(chunk.max(1)) {
        w.write(c).await?;
    }
    w.commit().await
}

async fn read(store: &BlobDocuments, scope: &TenantScope, id: ContractId) -> Option<Vec<u8>> {
    let stream = store.open(scope, id).await.expect("open")?;
    let chunks: Vec<_> = stream.try_collect().await.expect("read");
    Some(chunks.concat())
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn good_files(n: usize) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/docs/good");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("the shared corpus is missing at {}: {e}", root.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    // A spread of types and sizes: the largest file plus the first few.
    files.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
    let (largest, rest) = files.split_at(1);
    let mut rest = rest.to_vec();
    rest.sort();
    largest
        .iter()
        .chain(rest.iter().step_by(rest.len().div_ceil(n.max(1))))
        .take(n)
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(p).expect("read corpus file"),
            )
        })
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be reproduced.
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn container_client() -> BlobContainerClient {
    let url = format!("{}/{DEFAULT_CONTAINER}", Azurite::shared().service_url());
    BlobContainerClient::new(
        url.parse().expect("url"),
        None,
        Some(azure_storage_blob::BlobContainerClientOptions {
            client_options: Azurite::client_options(),
            ..Default::default()
        }),
    )
    .expect("container client")
}

/// Every file of the good corpus (PDF and DOCX), as the local backend does through HTTP.
#[tokio::test]
async fn good_corpus_round_trips_byte_for_byte() {
    let store = store().await;
    let scope = scope();
    for (name, bytes) in good_files(usize::MAX) {
        let id = ContractId::new();
        let size = put(&store, &scope, id, &bytes, 64 * 1024 + 17)
            .await
            .expect("commit");
        assert_eq!(size, bytes.len() as u64, "{name}");
        let back = read(&store, &scope, id)
            .await
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            sha(&back),
            sha(&bytes),
            "{name} differs after the round trip"
        );
    }
}

#[tokio::test]
async fn a_file_larger_than_a_block_round_trips_in_staged_blocks() {
    let store = store().await;
    let scope = scope();
    let id = ContractId::new();
    let bytes = random_bytes(9 * 1024 * 1024 + 123, 0x5eed);
    // Odd chunk size, so blocks fill across write boundaries.
    let size = put(&store, &scope, id, &bytes, 1_000_003)
        .await
        .expect("commit");
    assert_eq!(size, bytes.len() as u64);
    // Committed as a block list: 4 MiB + 4 MiB + the rest.
    let blob = container_client().blob_client(&BlobDocuments::blob_name(&scope, id));
    let blocks = blob
        .block_blob_client()
        .get_block_list(azure_storage_blob::models::BlockListType::Committed, None)
        .await
        .expect("block list")
        .into_model()
        .expect("block list body");
    assert_eq!(blocks.committed_blocks.map(|b| b.len()), Some(3));
    let stream = store
        .open(&scope, id)
        .await
        .expect("open")
        .expect("present");
    let mut hasher = Sha256::new();
    let mut n = 0usize;
    let mut stream = stream;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        n += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(n, bytes.len());
    assert_eq!(<[u8; 32]>::from(hasher.finalize()), sha(&bytes));
}

#[tokio::test]
async fn commit_over_an_existing_original_conflicts_and_keeps_the_first() {
    let store = store().await;
    let scope = scope();
    let id = ContractId::new();
    put(&store, &scope, id, b"first", 3).await.expect("first");
    let second = put(&store, &scope, id, b"second, and longer", 5).await;
    assert!(matches!(second, Err(PortError::Conflict(_))), "{second:?}");
    // The block-list path conflicts the same way.
    let big = random_bytes(5 * 1024 * 1024, 7);
    let third = put(&store, &scope, id, &big, 1 << 20).await;
    assert!(matches!(third, Err(PortError::Conflict(_))), "{third:?}");
    assert_eq!(
        read(&store, &scope, id).await.as_deref(),
        Some(&b"first"[..])
    );
}

#[tokio::test]
async fn abort_leaves_no_blob() {
    let store = store().await;
    let scope = scope();
    for len in [16, 5 * 1024 * 1024] {
        let id = ContractId::new();
        let mut w = store.begin(&scope, id).await.expect("begin");
        w.write(&random_bytes(len, 3)).await.expect("write");
        w.abort().await;
        assert!(
            read(&store, &scope, id).await.is_none(),
            "{len} bytes visible after abort"
        );
        let exists = container_client()
            .blob_client(&BlobDocuments::blob_name(&scope, id))
            .exists()
            .await
            .expect("exists");
        assert!(!exists, "a blob exists after abort");
    }
}

#[tokio::test]
async fn open_of_a_missing_original_is_none_and_delete_is_idempotent() {
    let store = store().await;
    let scope = scope();
    let id = ContractId::new();
    assert!(store.open(&scope, id).await.expect("open").is_none());
    assert!(!store.delete(&scope, id).await.expect("delete missing"));
    put(&store, &scope, id, b"x", 1).await.expect("commit");
    assert!(store.delete(&scope, id).await.expect("delete"));
    assert!(!store.delete(&scope, id).await.expect("delete again"));
    assert!(store.open(&scope, id).await.expect("open").is_none());
    // An empty original is an original.
    put(&store, &scope, id, b"", 1).await.expect("empty commit");
    assert_eq!(read(&store, &scope, id).await.as_deref(), Some(&b""[..]));
}

#[tokio::test]
async fn blob_name_and_metadata_come_from_the_scope_and_id() {
    let store = store().await;
    let scope = scope();
    let org = scope.org().as_str().to_owned();
    let id = ContractId::new();
    put(&store, &scope, id, b"%PDF-1.7 named", 4)
        .await
        .expect("commit");
    let expected = format!("{org}/{id}/original");
    assert_eq!(BlobDocuments::blob_name(&scope, id), expected);
    let container = container_client();
    let mut pages = container
        .list_blobs(Some(BlobContainerClientListBlobsOptions {
            prefix: Some(format!("{org}/")),
            ..Default::default()
        }))
        .expect("list")
        .into_pages();
    let mut names = Vec::new();
    while let Some(page) = pages.try_next().await.expect("page") {
        let page = page.into_model().expect("page body");
        names.extend(page.blob_items.into_iter().filter_map(|b| b.name));
    }
    assert_eq!(names, vec![expected.clone()]);
    let props = container
        .blob_client(&expected)
        .get_properties(None)
        .await
        .expect("properties");
    let meta = props.metadata().expect("metadata");
    assert_eq!(meta.get("orgid").map(String::as_str), Some(org.as_str()));
    assert_eq!(meta.get("contractid"), Some(&id.to_string()));
    assert_eq!(
        props.content_type().expect("type").as_deref(),
        Some("application/octet-stream")
    );
}

#[tokio::test]
async fn orgs_never_share_originals() {
    let store = store().await;
    let (a, b) = (scope(), scope());
    let id = ContractId::new();
    put(&store, &a, id, b"a's original", 4).await.expect("a");
    // B's scope does not see A's id: it simply is not there.
    assert!(store.open(&b, id).await.expect("open").is_none());
    assert!(!store.delete(&b, id).await.expect("delete"));
    // The same id under B is a separate original.
    put(&store, &b, id, b"b's original", 4).await.expect("b");
    assert_eq!(
        read(&store, &a, id).await.as_deref(),
        Some(&b"a's original"[..])
    );
    assert_eq!(
        read(&store, &b, id).await.as_deref(),
        Some(&b"b's original"[..])
    );
}

#[tokio::test]
async fn meets_the_shared_document_store_contract() {
    let store = store().await;
    let files: Vec<Vec<u8>> = good_files(3).into_iter().map(|(_, b)| b).collect();
    suite::document_store(&store, &files).await;
}

#[tokio::test]
async fn health_checks_the_container() {
    let store = store().await;
    assert_eq!(store.name(), "blob-storage");
    store.probe().await.expect("healthy");
    let missing = BlobDocuments::new(
        &Azurite::shared().service_url(),
        None,
        Some(Azurite::client_options()),
        "no-such-container",
    )
    .expect("adapter");
    let err = missing
        .probe()
        .await
        .expect_err("a missing container is down");
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn the_emulator_refuses_unsigned_requests() {
    // Proves the shared-key policy is what lets the other tests in: Azurite checks signatures.
    let options = azure_core::http::ClientOptions {
        retry: azure_core::http::RetryOptions::none(),
        ..Default::default()
    };
    let unsigned = BlobDocuments::new(
        &Azurite::shared().service_url(),
        None,
        Some(options),
        DEFAULT_CONTAINER,
    )
    .expect("adapter");
    let Err(err) = unsigned.open(&scope(), ContractId::new()).await else {
        panic!("an unsigned request was accepted");
    };
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("403")),
        "{err:?}"
    );
}

/// The sweep skips blobs that are not well-formed originals (another name, a non-canonical id, missing
/// or disagreeing metadata) and lists the good one with its last-modified time.
#[tokio::test]
async fn the_sweep_skips_what_is_not_an_original() {
    use azure_storage_blob::models::BlockBlobClientUploadOptions;
    let store = store().await;
    let scope = scope();
    let org = scope.org().as_str().to_owned();
    let good = ContractId::new();
    put(&store, &scope, good, b"good", 2).await.expect("commit");
    let container = container_client();
    let raw = |name: String, meta: Option<(String, String)>| {
        let container = &container;
        async move {
            let options = BlockBlobClientUploadOptions {
                metadata: meta.map(|(o, c)| {
                    std::collections::HashMap::from([
                        ("orgid".to_owned(), o),
                        ("contractid".to_owned(), c),
                    ])
                }),
                ..Default::default()
            };
            container
                .blob_client(&name)
                .block_blob_client()
                .upload(bytes::Bytes::from_static(b"junk").into(), Some(options))
                .await
                .expect("upload");
        }
    };
    let [a, b, c, d, e] = std::array::from_fn::<_, 5, _>(|_| ContractId::new());
    let upper = a.to_string().to_uppercase();
    raw(
        format!("{org}/{upper}/original"),
        Some((org.clone(), upper.clone())),
    )
    .await;
    raw(format!("{org}/{b}/original"), None).await;
    raw(
        format!("{org}/{c}/original"),
        Some(("someone-else".into(), c.to_string())),
    )
    .await;
    raw(
        format!("{org}/{d}/extracted.txt"),
        Some((org.clone(), d.to_string())),
    )
    .await;
    raw(format!("{org}/{e}"), Some((org.clone(), e.to_string()))).await;
    raw(format!("{org}-notes.txt"), None).await;

    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store.sweep(after, 3).await.expect("sweep");
        listed.extend(page.blobs.into_iter().filter(|b| b.org == *scope.org()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, good);
    let age = time::OffsetDateTime::now_utc() - listed[0].last_modified;
    assert!(age < time::Duration::minutes(2), "last modified {age} ago");
}

/// The audit archive on Azurite: objects by range, never overwritten, the reach read back from the
/// names, the bytes read back whole, other orgs apart.
#[tokio::test]
async fn the_audit_archive_stores_ranges_once_and_reports_its_reach() {
    use clment_azure::audit_archive::BlobAuditArchive;
    use clment_common::ports::AuditArchive;
    let azurite = Azurite::shared();
    let archive = BlobAuditArchive::new(
        &azurite.service_url(),
        None,
        Some(Azurite::client_options()),
        &format!("audit-{}", uuid::Uuid::new_v4().simple()),
    )
    .unwrap();
    archive.ensure_container().await.unwrap();
    let acme = TenantScope::for_tests("acme", Region::Us);
    let globex = TenantScope::for_tests("globex", Region::Us);
    assert_eq!(archive.archived_up_to(&acme).await.unwrap(), None);
    archive
        .put(&acme, 1, 1000, b"{\"seq\":1}\n".to_vec())
        .await
        .unwrap();
    archive
        .put(&acme, 1001, 1002, b"{\"seq\":1001}\n".to_vec())
        .await
        .unwrap();
    // A range is written once: a second put conflicts and the first bytes stay.
    assert!(matches!(
        archive.put(&acme, 1001, 1002, b"other".to_vec()).await,
        Err(PortError::Conflict(_))
    ));
    assert_eq!(archive.archived_up_to(&acme).await.unwrap(), Some(1002));
    assert_eq!(archive.archived_up_to(&globex).await.unwrap(), None);
    let names = archive.names(&acme).await.unwrap();
    assert_eq!(
        names,
        [
            "acme/00000000000000000001-00000000000000001000.ndjson",
            "acme/00000000000000001001-00000000000000001002.ndjson"
        ]
    );
    assert_eq!(archive.read(&names[1]).await.unwrap(), b"{\"seq\":1001}\n");
    assert_eq!(
        archive.read("acme/missing.ndjson").await,
        Err(PortError::NotFound)
    );
}
