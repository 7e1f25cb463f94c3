//! The extracted-text store on Blob Storage against Azurite 3.37, Microsoft's local emulator for Azure
//! Storage (installed from npm by `scripts/test`): not the real service, but the same REST API and the
//! real SDK client. One emulator is started per test binary (see `support/azurite.rs`).
//!
//! Auth: plain HTTP with a test-only shared-key signing policy in the client options (no credential),
//! as in `blob_azurite.rs`. Production passes the managed-identity `TokenCredential` instead.

mod support;

use azure_storage_blob::BlobContainerClient;
use azure_storage_blob::models::{
    BlobClientGetPropertiesResultHeaders as _, BlobContainerClientListBlobsOptions,
};
use clment_azure::blob::{BlobDocuments, DEFAULT_CONTAINER};
use clment_azure::texts::BlobTexts;
use clment_common::TenantScope;
use clment_common::domain::{ContractId, Region};
use clment_common::ports::{DocumentStore, Extracted, TextStore};
use futures_util::TryStreamExt as _;
use support::azurite::Azurite;

async fn stores() -> (BlobTexts, BlobDocuments) {
    let azurite = Azurite::shared();
    let docs = BlobDocuments::new(
        &azurite.service_url(),
        None,
        Some(Azurite::client_options()),
        DEFAULT_CONTAINER,
    )
    .expect("documents adapter");
    docs.ensure_container().await.expect("container");
    let texts = BlobTexts::new(
        &azurite.service_url(),
        None,
        Some(Azurite::client_options()),
        DEFAULT_CONTAINER,
    )
    .expect("texts adapter");
    (texts, docs)
}

async fn texts() -> BlobTexts {
    stores().await.0
}

/// A fresh org per test, so tests sharing the emulator never see each other's blobs.
fn scope() -> TenantScope {
    TenantScope::for_tests(
        &format!("org-{}", uuid::Uuid::new_v4().simple()),
        Region::Us,
    )
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

async fn names_under(org: &str) -> Vec<String> {
    let mut pages = container_client()
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
    names.sort();
    names
}

/// A two-page text with non-ASCII letters, an astral-plane emoji and a form feed between pages;
/// the second page starts at a character (not byte) offset.
fn sample() -> Extracted {
    let page1 = "Vertrag über die Lieferung — 契約書 «clause» 🚀 naïve café";
    let page2 = "Page two: Haftung ≤ 1 000 000 €; \"quoted\" \\ backslash\ttab";
    let text = format!("{page1}\u{c}{page2}");
    let second = u64::try_from(page1.chars().count() + 1).unwrap();
    Extracted {
        text,
        pages: vec![0, second],
    }
}

#[tokio::test]
async fn text_round_trips_with_its_page_offsets() {
    let store = texts().await;
    let scope = scope();
    let id = ContractId::new();
    let text = sample();
    store.put_text(&scope, id, &text).await.expect("put");
    let back = store
        .get_text(&scope, id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(back, text);
    assert_eq!(back.page_of(0), 1);
    assert_eq!(back.page_of(back.pages[1]), 2);
    // A one-page text with no pages beyond the first.
    let id2 = ContractId::new();
    let plain = Extracted {
        text: String::new(),
        pages: vec![0],
    };
    store
        .put_text(&scope, id2, &plain)
        .await
        .expect("put empty");
    assert_eq!(store.get_text(&scope, id2).await.expect("get"), Some(plain));
}

#[tokio::test]
async fn the_blob_is_named_typed_and_tagged_like_originals() {
    let store = texts().await;
    let scope = scope();
    let org = scope.org().as_str().to_owned();
    let id = ContractId::new();
    store.put_text(&scope, id, &sample()).await.expect("put");
    let expected = format!("{org}/{id}/text");
    assert_eq!(BlobTexts::blob_name(&scope, id), expected);
    assert_eq!(names_under(&org).await, vec![expected.clone()]);
    let props = container_client()
        .blob_client(&expected)
        .get_properties(None)
        .await
        .expect("properties");
    let meta = props.metadata().expect("metadata");
    assert_eq!(meta.get("orgid").map(String::as_str), Some(org.as_str()));
    assert_eq!(meta.get("contractid"), Some(&id.to_string()));
    assert_eq!(
        props.content_type().expect("type").as_deref(),
        Some("application/json")
    );
    // The body is the JSON of `Extracted`.
    let body = container_client()
        .blob_client(&expected)
        .download(None)
        .await
        .expect("download")
        .body
        .collect()
        .await
        .expect("body");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(json["text"], sample().text);
    assert_eq!(json["pages"], serde_json::json!(sample().pages));
}

#[tokio::test]
async fn put_overwrites() {
    let store = texts().await;
    let scope = scope();
    let id = ContractId::new();
    store.put_text(&scope, id, &sample()).await.expect("first");
    let newer = Extracted {
        text: "re-extracted".into(),
        pages: vec![0],
    };
    store.put_text(&scope, id, &newer).await.expect("second");
    assert_eq!(store.get_text(&scope, id).await.expect("get"), Some(newer));
}

#[tokio::test]
async fn orgs_never_share_texts() {
    let store = texts().await;
    let (a, b) = (scope(), scope());
    let id = ContractId::new();
    store.put_text(&a, id, &sample()).await.expect("a");
    // B's scope does not see A's id: it is simply not there.
    assert_eq!(store.get_text(&b, id).await.expect("get"), None);
    assert!(!store.delete_text(&b, id).await.expect("delete"));
    // The same id under B is a separate text, and A's is untouched.
    let other = Extracted {
        text: "b's text".into(),
        pages: vec![0],
    };
    store.put_text(&b, id, &other).await.expect("b");
    assert_eq!(store.get_text(&a, id).await.expect("get"), Some(sample()));
    assert_eq!(store.get_text(&b, id).await.expect("get"), Some(other));
}

#[tokio::test]
async fn missing_text_is_none_and_delete_is_idempotent() {
    let store = texts().await;
    let scope = scope();
    let id = ContractId::new();
    assert_eq!(store.get_text(&scope, id).await.expect("get"), None);
    assert!(!store.delete_text(&scope, id).await.expect("delete missing"));
    store.put_text(&scope, id, &sample()).await.expect("put");
    assert!(store.delete_text(&scope, id).await.expect("delete"));
    assert!(!store.delete_text(&scope, id).await.expect("delete again"));
    assert_eq!(store.get_text(&scope, id).await.expect("get"), None);
}

/// The text lives next to the original but neither store touches the other's blob, and the
/// reconciler's sweep of originals does not list it.
#[tokio::test]
async fn text_and_original_are_independent() {
    let (texts, docs) = stores().await;
    let scope = scope();
    let org = scope.org().as_str().to_owned();
    let id = ContractId::new();
    let mut w = docs.begin(&scope, id).await.expect("begin");
    w.write(b"%PDF-1.7 original").await.expect("write");
    w.commit().await.expect("commit");
    texts.put_text(&scope, id, &sample()).await.expect("put");
    assert_eq!(
        names_under(&org).await,
        vec![format!("{org}/{id}/original"), format!("{org}/{id}/text")]
    );

    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = docs.sweep(after, 1000).await.expect("sweep");
        listed.extend(page.blobs.into_iter().filter(|b| b.org == *scope.org()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);

    // Deleting the original leaves the text, and the other way round.
    assert!(docs.delete(&scope, id).await.expect("delete original"));
    assert_eq!(
        texts.get_text(&scope, id).await.expect("get"),
        Some(sample())
    );
    assert!(docs.open(&scope, id).await.expect("open").is_none());
    assert!(texts.delete_text(&scope, id).await.expect("delete text"));
    assert!(names_under(&org).await.is_empty());
}

#[tokio::test]
async fn a_bad_container_name_is_refused() {
    let url = "http://127.0.0.1:10000/devstoreaccount1";
    assert!(BlobTexts::new(url, None, None, "").is_err());
    assert!(BlobTexts::new(url, None, None, "a/b").is_err());
    assert!(BlobTexts::new("not a url", None, None, DEFAULT_CONTAINER).is_err());
}
