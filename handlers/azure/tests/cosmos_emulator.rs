//! The Cosmos DB contract store against the Azure SDK's in-memory Cosmos emulator.
//!
//! The emulator is the SDK's internal test emulator (`azure_data_cosmos_driver`, feature
//! `__internal_in_memory_emulator`), not the real service: it runs in-process behind the real
//! `CosmosClient`, so the adapter code is the production code, but service behaviour (query engine,
//! batches, etags) is the emulator's rendering of it. All emulator setup is in `support/cosmos.rs`.
//! Key auth and container creation are test-only: production signs in with a managed identity and the
//! container is provisioned by infrastructure.

#[path = "support/cosmos.rs"]
mod emulator;

use azure_data_cosmos::FeedScope;
use clment_azure::cosmos::{CosmosContracts, DEFAULT_CONTAINER, DEFAULT_DATABASE};
use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId, Region, UserId};
use clment_common::ports::{
    ContractRecord, ContractStatus, ContractStore, Created, HealthCheck, PortError, suite,
};
use futures_util::TryStreamExt as _;
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};

fn record(org: &str, key: Option<&str>) -> ContractRecord {
    let now = OffsetDateTime::now_utc();
    ContractRecord {
        id: ContractId::new(),
        org: OrgId::parse(org).unwrap(),
        title: "t".into(),
        file_name: "t.pdf".into(),
        content_type: "application/pdf".into(),
        size: 1,
        sha256: "00".into(),
        status: ContractStatus::Pending,
        failure: None,
        created_by: UserId::parse("u").unwrap(),
        created_at: now,
        updated_at: now,
        idempotency_key: key.map(str::to_owned),
    }
}

fn scope(org: &str) -> TenantScope {
    TenantScope::for_tests(org, Region::Us)
}

#[tokio::test]
async fn meets_the_shared_contract_store_suite() {
    suite::contract_store(&emulator::contracts().await).await;
}

/// The local adapter's test, ported.
#[tokio::test]
async fn create_list_replace_remove_with_idempotency() {
    let s = emulator::contracts().await;
    let acme = scope("acme");
    let globex = scope("globex");
    let a = record("acme", Some("k1"));
    assert!(matches!(
        s.create(&acme, a.clone()).await.unwrap(),
        Created::New(_)
    ));
    // Same key again: the first record comes back, nothing new is stored.
    let again = record("acme", Some("k1"));
    assert_eq!(
        s.create(&acme, again.clone()).await.unwrap(),
        Created::Existing(a.clone())
    );
    assert_eq!(s.get(&acme, again.id).await.unwrap(), None);
    // The same key in another org is independent.
    assert!(matches!(
        s.create(&globex, record("globex", Some("k1")))
            .await
            .unwrap(),
        Created::New(_)
    ));
    // Another org's record cannot be created through this scope, nor read.
    assert!(matches!(
        s.create(&acme, record("globex", None)).await,
        Err(PortError::Conflict(_))
    ));
    assert_eq!(s.get(&globex, a.id).await.unwrap(), None);
    // A duplicate id is a conflict, with or without a key.
    assert!(matches!(
        s.create(
            &acme,
            ContractRecord {
                idempotency_key: None,
                ..a.clone()
            }
        )
        .await,
        Err(PortError::Conflict(_))
    ));
    assert!(matches!(
        s.create(
            &acme,
            ContractRecord {
                idempotency_key: Some("k2".into()),
                ..a.clone()
            }
        )
        .await,
        Err(PortError::Conflict(_))
    ));

    let mut ids = vec![a.id];
    for _ in 0..4 {
        let r = record("acme", None);
        ids.push(r.id);
        s.create(&acme, r).await.unwrap();
    }
    let page1 = s.list(&acme, 3, None).await.unwrap();
    let page2 = s
        .list(&acme, 3, Some(page1.last().unwrap().id))
        .await
        .unwrap();
    let listed: Vec<_> = page1.iter().chain(&page2).map(|r| r.id).collect();
    ids.reverse();
    assert_eq!(listed, ids, "newest first, no gaps or repeats across pages");

    let mut renamed = a.clone();
    renamed.title = "new".into();
    renamed.updated_at = a.updated_at + Duration::milliseconds(1);
    s.replace(&acme, renamed.clone(), a.updated_at)
        .await
        .unwrap();
    assert_eq!(s.get(&acme, a.id).await.unwrap(), Some(renamed.clone()));
    // A second writer holding the old `updated_at` loses.
    assert!(matches!(
        s.replace(&acme, renamed.clone(), a.updated_at).await,
        Err(PortError::Conflict(_))
    ));
    // Replacing a record that is not there.
    assert_eq!(
        s.replace(&acme, record("acme", None), a.updated_at).await,
        Err(PortError::NotFound)
    );
    assert!(s.remove(&acme, a.id).await.unwrap());
    assert!(!s.remove(&acme, a.id).await.unwrap());
    assert_eq!(s.get(&acme, a.id).await.unwrap(), None);
    // Removing frees the idempotency key.
    assert!(matches!(
        s.create(&acme, record("acme", Some("k1"))).await.unwrap(),
        Created::New(_)
    ));
}

#[tokio::test]
async fn pages_are_newest_first_across_pages_without_gaps_or_repeats() {
    let s = emulator::contracts().await;
    let acme = scope("acme");
    let mut expected = Vec::new();
    for i in 0..13 {
        // Some with keys, so idempotency documents share the partition and must not be listed.
        let key = format!("key-{i}");
        let mut r = record("acme", (i % 2 == 0).then_some(key.as_str()));
        if i == 5 {
            r.status = ContractStatus::Deleting;
        } else {
            expected.push(r.id);
        }
        s.create(&acme, r).await.unwrap();
    }
    expected.reverse();
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = s.list(&acme, 4, after).await.unwrap();
        assert!(page.len() <= 4);
        listed.extend(page.iter().map(|r| r.id));
        match page.last() {
            Some(last) if page.len() == 4 => after = Some(last.id),
            _ => break,
        }
    }
    assert_eq!(listed, expected);
    // One page holding everything, and a page after the oldest.
    let all: Vec<_> = s
        .list(&acme, 100, None)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, expected);
    assert!(
        s.list(&acme, 10, expected.last().copied())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.list(&acme, 0, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn orgs_are_isolated() {
    let s = emulator::contracts().await;
    let (acme, globex) = (scope("acme"), scope("globex"));
    let a = record("acme", Some("shared-key"));
    s.create(&acme, a.clone()).await.unwrap();

    assert_eq!(s.get(&globex, a.id).await.unwrap(), None);
    assert!(s.list(&globex, 100, None).await.unwrap().is_empty());
    // Neither as the record names it (another org) nor relabelled to the caller's org.
    assert!(matches!(
        s.replace(&globex, a.clone(), a.updated_at).await,
        Err(PortError::NotFound | PortError::Conflict(_))
    ));
    let relabelled = ContractRecord {
        org: globex.org().clone(),
        title: "stolen".into(),
        ..a.clone()
    };
    assert_eq!(
        s.replace(&globex, relabelled.clone(), a.updated_at).await,
        Err(PortError::NotFound)
    );
    assert!(!s.remove(&globex, a.id).await.unwrap());
    assert_eq!(s.get(&acme, a.id).await.unwrap(), Some(a.clone()));

    // The same idempotency key in the other org makes a record of its own.
    let g = record("globex", Some("shared-key"));
    assert_eq!(
        s.create(&globex, g.clone()).await.unwrap(),
        Created::New(g.clone())
    );
    assert_eq!(
        s.create(&acme, record("acme", Some("shared-key")))
            .await
            .unwrap(),
        Created::Existing(a.clone())
    );
    // Removing one org's record frees only that org's key.
    assert!(s.remove(&globex, g.id).await.unwrap());
    assert_eq!(
        s.create(&acme, record("acme", Some("shared-key")))
            .await
            .unwrap(),
        Created::Existing(a.clone())
    );
    assert_eq!(
        s.list(&acme, 10, None)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![a.id]
    );
}

#[tokio::test]
async fn deleting_records_are_listed_by_nobody_but_read_by_get() {
    let s = emulator::contracts().await;
    let acme = scope("acme");
    let kept = record("acme", None);
    s.create(&acme, kept.clone()).await.unwrap();
    let doomed = record("acme", None);
    s.create(&acme, doomed.clone()).await.unwrap();
    let marked = ContractRecord {
        status: ContractStatus::Deleting,
        updated_at: doomed.updated_at + Duration::milliseconds(1),
        ..doomed.clone()
    };
    s.replace(&acme, marked.clone(), doomed.updated_at)
        .await
        .unwrap();
    let listed: Vec<_> = s
        .list(&acme, 10, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![kept.id]);
    assert_eq!(s.get(&acme, doomed.id).await.unwrap(), Some(marked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_with_one_key_store_exactly_one_record() {
    let s = emulator::contracts().await;
    let acme = scope("acme");
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let (s, acme) = (s.clone(), acme.clone());
            tokio::spawn(async move { s.create(&acme, record("acme", Some("same"))).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().unwrap());
    }
    let new: Vec<_> = outcomes
        .iter()
        .filter_map(|c| match c {
            Created::New(r) => Some(r.clone()),
            Created::Existing(_) => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "exactly one create stores a record");
    let first = &new[0];
    assert!(outcomes.iter().all(|c| match c {
        Created::New(r) | Created::Existing(r) => r == first,
    }));
    let listed = s.list(&acme, 100, None).await.unwrap();
    assert_eq!(listed, vec![first.clone()]);
}

/// The stored documents: the record plus `orgId` and `kind`, and one idempotency document per key
/// named by the key's SHA-256, created and removed with the contract.
#[tokio::test]
async fn documents_have_the_documented_shape() {
    let client = emulator::client().await;
    emulator::provision(&client, DEFAULT_DATABASE, DEFAULT_CONTAINER).await;
    let s = CosmosContracts::new(client.clone());
    let raw = client
        .database_client(DEFAULT_DATABASE)
        .container_client(DEFAULT_CONTAINER, None)
        .await
        .unwrap();
    let acme = scope("acme");
    let r = record("acme", Some("k/1?#"));
    s.create(&acme, r.clone()).await.unwrap();

    let docs: Vec<serde_json::Value> = raw
        .query_items(
            "SELECT * FROM c",
            FeedScope::partition("acme".to_owned()),
            None,
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(docs.len(), 2);
    let contract = docs
        .iter()
        .find(|d| d["kind"] == "contract")
        .expect("contract document");
    assert_eq!(contract["id"], r.id.to_string());
    assert_eq!(contract["orgId"], "acme");
    assert_eq!(contract["org"], "acme");
    assert_eq!(contract["status"], "pending");
    let idem = docs
        .iter()
        .find(|d| d["kind"] == "idempotency")
        .expect("idempotency document");
    assert_eq!(idem["id"], format!("idem:{:x}", Sha256::digest(b"k/1?#")));
    assert_eq!(idem["orgId"], "acme");
    assert_eq!(idem["contractId"], r.id.to_string());

    assert!(s.remove(&acme, r.id).await.unwrap());
    let left: Vec<serde_json::Value> = raw
        .query_items(
            "SELECT * FROM c",
            FeedScope::partition("acme".to_owned()),
            None,
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(left.is_empty(), "both documents removed: {left:?}");
}

#[tokio::test]
async fn health_reads_the_container_and_reports_a_missing_one() {
    let s = emulator::contracts().await;
    assert_eq!(s.name(), "cosmos-db");
    s.probe().await.unwrap();

    // An account without the container: the adapter is built, but the probe and every operation
    // report the store unavailable.
    let bare = CosmosContracts::new(emulator::client().await);
    assert!(bare.probe().await.is_err());
    assert!(matches!(
        bare.get(&scope("acme"), ContractId::new()).await,
        Err(PortError::Unavailable(_))
    ));
}

/// A key document left pointing at a contract that no longer exists (say the record's key was changed
/// by a replace before it was removed) does not block the key forever.
#[tokio::test]
async fn a_stale_idempotency_document_is_freed_on_create() {
    let client = emulator::client().await;
    emulator::provision(&client, DEFAULT_DATABASE, DEFAULT_CONTAINER).await;
    let s = CosmosContracts::new(client.clone());
    let raw = client
        .database_client(DEFAULT_DATABASE)
        .container_client(DEFAULT_CONTAINER, None)
        .await
        .unwrap();
    let id = format!("idem:{:x}", Sha256::digest(b"k1"));
    let stale = serde_json::json!({
        "id": id, "orgId": "acme", "kind": "idempotency", "contractId": ContractId::new(),
    });
    raw.create_item("acme".to_owned(), &id, stale, None)
        .await
        .unwrap();
    let r = record("acme", Some("k1"));
    assert_eq!(
        s.create(&scope("acme"), r.clone()).await.unwrap(),
        Created::New(r.clone())
    );
    assert_eq!(
        s.create(&scope("acme"), record("acme", Some("k1")))
            .await
            .unwrap(),
        Created::Existing(r)
    );
}

/// The reconciler's query reads every org's partition and compares times exactly, sub-second
/// included (the stored RFC 3339 strings only sort to the second); a malformed `deleting` document is
/// skipped, not an error.
#[tokio::test]
async fn stale_deletes_span_partitions_and_compare_times_exactly() {
    let client = emulator::client().await;
    emulator::provision(&client, DEFAULT_DATABASE, DEFAULT_CONTAINER).await;
    let s = CosmosContracts::new(client.clone());
    let cutoff = OffsetDateTime::now_utc()
        .replace_nanosecond(500_000_000)
        .unwrap()
        - Duration::hours(1);
    let mut expected = Vec::new();
    for (i, at) in [
        cutoff - Duration::nanoseconds(1),
        cutoff.replace_nanosecond(0).unwrap(),
        cutoff - Duration::seconds(1),
        cutoff,
        cutoff + Duration::milliseconds(100),
        cutoff + Duration::seconds(1),
    ]
    .into_iter()
    .enumerate()
    {
        let org = format!("org-{i}");
        let mut r = record(&org, None);
        r.status = ContractStatus::Deleting;
        r.updated_at = at;
        s.create(&scope(&org), r.clone()).await.unwrap();
        if at < cutoff {
            expected.push((r.org.clone(), r.id));
        }
    }
    // A live record that is old, and a `deleting` document with a malformed time.
    let mut live = record("org-live", None);
    live.updated_at = cutoff - Duration::days(1);
    s.create(&scope("org-live"), live).await.unwrap();
    let raw = client
        .database_client(DEFAULT_DATABASE)
        .container_client(DEFAULT_CONTAINER, None)
        .await
        .unwrap();
    let mut bad = serde_json::to_value(record("org-bad", None)).unwrap();
    bad["status"] = "deleting".into();
    bad["updated_at"] = "2000-01-01 yesterday".into();
    bad["orgId"] = "org-bad".into();
    bad["kind"] = "contract".into();
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    raw.create_item("org-bad".to_owned(), &bad_id, &bad, None)
        .await
        .unwrap();

    let mut found = s.stale_deleting(cutoff, 100).await.unwrap();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(s.stale_deleting(cutoff, 2).await.unwrap().len(), 2);
}
