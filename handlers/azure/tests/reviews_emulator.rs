//! The Cosmos DB review store against the Azure SDK's in-memory Cosmos emulator.
//!
//! The emulator is the SDK's internal test emulator (`azure_data_cosmos_driver`, feature
//! `__internal_in_memory_emulator`), not the real service: it runs in-process behind the real
//! `CosmosClient`, so the adapter code is the production code, but service behaviour (query engine,
//! etags) is the emulator's rendering of it. The client comes from `support/cosmos.rs`; the reviews
//! container is created here with the adapter's own [`container_properties`], the way infrastructure
//! provisions it (key auth and container creation are test-only).

#[path = "support/cosmos.rs"]
mod emulator;

use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::{CosmosClient, FeedScope};
use clment_azure::cosmos::DEFAULT_DATABASE;
use clment_azure::reviews::{CosmosReviews, REVIEWS_CONTAINER, container_properties};
use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId, Region, ReviewId};
use clment_common::ports::{Actor, HealthCheck, PortError, ReviewStore, suite};
use clment_common::review::{ReviewRecord, ReviewStatus};
use futures_util::TryStreamExt as _;
use time::OffsetDateTime;

/// The adapter over a fresh emulated account with `clment` / `reviews` provisioned, and the client.
async fn store() -> (CosmosReviews, CosmosClient) {
    let client = emulator::client().await;
    client
        .create_database(DEFAULT_DATABASE, None)
        .await
        .expect("create database");
    client
        .database_client(DEFAULT_DATABASE)
        .create_container(container_properties(REVIEWS_CONTAINER), None)
        .await
        .expect("create reviews container");
    let store = CosmosReviews::new(client.clone());
    store.connect().await.expect("container resolves");
    (store, client)
}

async fn raw(client: &CosmosClient) -> ContainerClient {
    client
        .database_client(DEFAULT_DATABASE)
        .container_client(REVIEWS_CONTAINER, None)
        .await
        .expect("container")
}

fn scope(org: &str) -> TenantScope {
    TenantScope::for_tests(org, Region::Us)
}

fn review(org: &str, contract: ContractId) -> ReviewRecord {
    let now = OffsetDateTime::now_utc();
    ReviewRecord {
        id: ReviewId::new(),
        org: OrgId::parse(org).unwrap(),
        contract,
        status: ReviewStatus::Queued,
        categories: vec!["governing-law".into()],
        requested_by: Actor::User {
            user_id: "u-1".into(),
            email: None,
        },
        created_at: now,
        updated_at: now,
        completed_at: None,
        failure: None,
        result: None,
        idempotency_key: None,
    }
}

#[tokio::test]
async fn meets_the_shared_review_store_suite() {
    let (store, _) = store().await;
    suite::review_store(&store).await;
}

/// Item id = review id, partition key = the scope's org, `contractId` beside the record's fields.
#[tokio::test]
async fn documents_have_the_documented_shape() {
    let (store, client) = store().await;
    let contract = ContractId::new();
    let r = review("acme", contract);
    store.create(&scope("acme"), &r).await.unwrap();
    let doc: serde_json::Value = raw(&client)
        .await
        .read_item("acme".to_owned(), &r.id.to_string(), None)
        .await
        .expect("a point read in the org's partition")
        .into_model()
        .unwrap();
    assert_eq!(doc["id"], r.id.to_string());
    assert_eq!(doc["orgId"], "acme");
    assert_eq!(doc["org"], "acme");
    assert_eq!(doc["contractId"], contract.to_string());
    assert_eq!(doc["contract"], contract.to_string());
    assert_eq!(doc["status"], "queued");
    // Nothing in another partition.
    let elsewhere: Vec<serde_json::Value> = raw(&client)
        .await
        .query_items(
            "SELECT * FROM c",
            FeedScope::partition("globex".to_owned()),
            None,
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(elsewhere.is_empty());
}

/// A replace that drops the idempotency key removes its marker document at once (the shared suite
/// checks the key is free; this checks nothing is left behind for the next create to clean up).
#[tokio::test]
async fn dropping_the_key_removes_its_marker() {
    let (store, client) = store().await;
    let acme = scope("acme");
    let r = ReviewRecord {
        idempotency_key: Some("marker-1".into()),
        ..review("acme", ContractId::new())
    };
    store.create(&acme, &r).await.unwrap();
    let markers = || async {
        raw(&client)
            .await
            .query_items::<serde_json::Value>(
                "SELECT c.id FROM c WHERE c.kind = 'reviewIdempotency'",
                FeedScope::partition("acme".to_owned()),
                None,
            )
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len()
    };
    assert_eq!(markers().await, 1);
    let dropped = ReviewRecord {
        idempotency_key: None,
        updated_at: r.updated_at + time::Duration::seconds(1),
        ..r.clone()
    };
    store.replace(&acme, &dropped, r.updated_at).await.unwrap();
    assert_eq!(markers().await, 0);
    assert_eq!(
        store.get(&acme, r.contract, r.id).await.unwrap(),
        Some(dropped)
    );
}

#[tokio::test]
async fn a_record_of_another_org_is_refused() {
    let (store, _) = store().await;
    let r = review("globex", ContractId::new());
    assert!(matches!(
        store.create(&scope("acme"), &r).await,
        Err(PortError::Conflict(_))
    ));
    assert_eq!(
        store.get(&scope("globex"), r.contract, r.id).await.unwrap(),
        None
    );
    // Nor can a scope move a review to another org on replace.
    let mine = review("acme", ContractId::new());
    store.create(&scope("acme"), &mine).await.unwrap();
    let mut moved = mine.clone();
    moved.org = OrgId::parse("globex").unwrap();
    assert!(matches!(
        store.replace(&scope("acme"), &moved, mine.updated_at).await,
        Err(PortError::Conflict(_))
    ));
}

/// The same contract id in two orgs: each org lists and purges only its own reviews.
#[tokio::test]
async fn orgs_never_see_or_purge_each_others_reviews() {
    let (store, _) = store().await;
    let contract = ContractId::new();
    let (acme, globex) = (scope("acme"), scope("globex"));
    let a = review("acme", contract);
    let g = review("globex", contract);
    store.create(&acme, &a).await.unwrap();
    store.create(&globex, &g).await.unwrap();
    let listed: Vec<ReviewId> = store
        .list(&acme, contract, 10, None)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, [a.id]);
    assert_eq!(store.get(&acme, contract, g.id).await.unwrap(), None);
    assert!(!store.delete(&acme, contract, g.id).await.unwrap());
    assert_eq!(store.delete_for_contract(&acme, contract).await.unwrap(), 1);
    assert_eq!(
        store.get(&globex, contract, g.id).await.unwrap(),
        Some(g.clone())
    );
    // A review is only found under its own contract.
    assert!(
        !store
            .delete(&globex, ContractId::new(), g.id)
            .await
            .unwrap()
    );
    assert!(store.delete(&globex, contract, g.id).await.unwrap());
}

#[tokio::test]
async fn pages_follow_each_other_newest_first() {
    let (store, _) = store().await;
    let acme = scope("acme");
    let contract = ContractId::new();
    let mut ids = Vec::new();
    for _ in 0..7 {
        let r = review("acme", contract);
        store.create(&acme, &r).await.unwrap();
        ids.push(r.id);
    }
    ids.reverse();
    assert!(
        store
            .list(&acme, contract, 0, None)
            .await
            .unwrap()
            .is_empty()
    );
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = store.list(&acme, contract, 3, after).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|r| r.id));
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn health_reports_the_container() {
    let (store, client) = store().await;
    assert_eq!(store.name(), "cosmos-reviews");
    store.probe().await.expect("up");
    let missing = CosmosReviews::with_names(client, DEFAULT_DATABASE, "no-such-container");
    assert!(missing.probe().await.is_err());
    assert!(matches!(
        missing
            .get(&scope("acme"), ContractId::new(), ReviewId::new())
            .await,
        Err(PortError::Unavailable(_))
    ));
}
