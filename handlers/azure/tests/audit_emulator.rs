//! The Cosmos DB audit trail against the Azure SDK's in-memory Cosmos emulator.
//!
//! The emulator is the SDK's internal test emulator (`azure_data_cosmos_driver`, feature
//! `__internal_in_memory_emulator`), not the real service: it runs in-process behind the real
//! `CosmosClient`, so the adapter code is the production code, but service behaviour (hierarchical
//! partition keys, prefix queries, 409 on a taken id) is the emulator's rendering of it. The client
//! comes from `support/cosmos.rs`; the audit containers are provisioned here. "Another process" is a
//! second adapter instance over the same account: the adapter keeps no state of its own between calls
//! (only resolved container clients), so that is what a second process would do.

#[path = "support/cosmos.rs"]
mod emulator;

use std::sync::Arc;

use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::{CosmosClient, FeedScope, PartitionKey};
use clment_azure::audit::{
    AUDIT_CONTAINER, CosmosAudit, HEADS_CONTAINER, audit_container_properties,
    heads_container_properties,
};
use clment_azure::cosmos::DEFAULT_DATABASE;
use clment_common::TenantScope;
use clment_common::audit::{Break, DigestSigner, DigestVerifier, event_hash, sign_heads, verify};
use clment_common::domain::Region;
use clment_common::ports::suite::{self, sample_event};
use clment_common::ports::{AuditLog, HealthCheck, PortError, StoredEvent};
use futures_util::TryStreamExt as _;
use time::OffsetDateTime;

/// Creates the database and both audit containers, the way infrastructure provisions them.
async fn provision(client: &CosmosClient) {
    client
        .create_database(DEFAULT_DATABASE, None)
        .await
        .expect("create database");
    let db = client.database_client(DEFAULT_DATABASE);
    db.create_container(audit_container_properties(AUDIT_CONTAINER), None)
        .await
        .expect("create audit container (hierarchical partition key)");
    db.create_container(heads_container_properties(HEADS_CONTAINER), None)
        .await
        .expect("create heads container");
}

/// A fresh account with the containers, the adapter (`bucket` events per bucket) and the client.
async fn audit(bucket: u64) -> (CosmosAudit, CosmosClient) {
    let client = emulator::client().await;
    provision(&client).await;
    let log = CosmosAudit::new(client.clone()).with_bucket_size(bucket);
    log.connect().await.expect("containers resolve");
    (log, client)
}

async fn raw(client: &CosmosClient, container: &str) -> ContainerClient {
    client
        .database_client(DEFAULT_DATABASE)
        .container_client(container, None)
        .await
        .unwrap()
}

fn scope(org: &str) -> TenantScope {
    TenantScope::for_tests(org, Region::Us)
}

/// Sets (or with `None` removes) the org's head hint behind the adapter's back.
async fn set_hint(client: &CosmosClient, org: &str, seq: Option<u64>) {
    let heads = raw(client, HEADS_CONTAINER).await;
    match seq {
        Some(seq) => {
            let doc = serde_json::json!({ "id": org, "orgId": org, "seq": seq });
            heads
                .upsert_item(org.to_owned(), org, &doc, None)
                .await
                .unwrap();
        }
        None => match heads.delete_item(org.to_owned(), org, None).await {
            Ok(_) => {}
            Err(e) if e.status().is_not_found() => {}
            Err(e) => panic!("delete hint: {e}"),
        },
    }
}

async fn hint(client: &CosmosClient, org: &str) -> Option<u64> {
    let heads = raw(client, HEADS_CONTAINER).await;
    match heads.read_item(org.to_owned(), org, None).await {
        Ok(r) => Some(
            r.into_model::<serde_json::Value>().unwrap()["seq"]
                .as_u64()
                .unwrap(),
        ),
        Err(e) if e.status().is_not_found() => None,
        Err(e) => panic!("read hint: {e}"),
    }
}

async fn all(log: &dyn AuditLog, scope: &TenantScope) -> Vec<StoredEvent> {
    log.read(scope, 0, 100_000).await.unwrap()
}

/// The whole trail reads back 1..=n and verifies.
async fn assert_gapless_and_verified(log: &dyn AuditLog, scope: &TenantScope, n: u64) {
    let events = all(log, scope).await;
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>(),
        "gapless"
    );
    let report = verify(log, scope, None, None, &DigestVerifier::default())
        .await
        .unwrap();
    assert!(report.verified, "{report:?}");
    assert_eq!(report.events_checked, n);
    assert_eq!(log.last(scope).await.unwrap().map(|e| e.seq), Some(n));
}

async fn append_n(log: &dyn AuditLog, scope: &TenantScope, n: u32) {
    for i in 0..n {
        log.append(
            scope,
            sample_event(i, Some("c1")),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn meets_the_shared_audit_suite() {
    let (log, _) = audit(clment_azure::audit::DEFAULT_BUCKET_SIZE).await;
    suite::audit_log(Arc::new(log)).await;
}

/// The suite again with 7 events per bucket: 83 events over 12 logical partitions per org.
/// The archive copy (the digest timer's second job) reads the Cosmos trail once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn archive_trails_copies_the_cosmos_trail_once_in_order() {
    let (log, _) = audit(clment_azure::audit::DEFAULT_BUCKET_SIZE).await;
    suite::audit_archive(Arc::new(log)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn meets_the_shared_audit_suite_across_small_buckets() {
    let (log, _) = audit(7).await;
    suite::audit_log(Arc::new(log)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_across_buckets_are_gapless_and_verify() {
    let (log, _) = audit(7).await;
    let log: Arc<dyn AuditLog> = Arc::new(log);
    let acme = scope("acme");
    let tasks: Vec<_> = (0..8u32)
        .map(|w| {
            let (log, acme) = (log.clone(), acme.clone());
            tokio::spawn(async move {
                for j in 0..10u32 {
                    log.append(
                        &acme,
                        sample_event(w * 10 + j, Some("c1")),
                        OffsetDateTime::now_utc(),
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_gapless_and_verified(log.as_ref(), &acme, 80).await;
    // Reads page correctly across bucket boundaries (6|7, 13|14, ...).
    for after in [0u64, 5, 6, 7, 13, 20, 76, 79, 80] {
        let page = log.read(&acme, after, 9).await.unwrap();
        let want: Vec<u64> = (after + 1..=80).take(9).collect();
        assert_eq!(
            page.iter().map(|e| e.seq).collect::<Vec<_>>(),
            want,
            "after {after}"
        );
    }
    let newest = log.read_contract(&acme, "c1", 15, 10).await.unwrap();
    assert_eq!(
        newest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (5..=14).rev().collect::<Vec<_>>()
    );
    // Signed heads verify too.
    let (signer, _) = DigestSigner::generate();
    assert_eq!(
        sign_heads(log.as_ref(), &signer, Region::Us, OffsetDateTime::now_utc())
            .await
            .unwrap(),
        1
    );
    let report = verify(log.as_ref(), &acme, None, None, &signer.verifier())
        .await
        .unwrap();
    assert!(report.verified, "{report:?}");
    assert_eq!((report.events_checked, report.digests_checked), (80, 1));
}

/// Two adapter instances (two processes) append at once while the hint is repeatedly set back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_instance_with_a_stale_hint_stays_gapless() {
    let (first, client) = audit(7).await;
    let second = CosmosAudit::new(client.clone()).with_bucket_size(7);
    let acme = scope("acme");
    append_n(&first, &acme, 20).await;
    set_hint(&client, "acme", Some(3)).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let saboteur = {
        let (client, stop) = (client.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                set_hint(&client, "acme", Some(3)).await;
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for (w, log) in [first.clone(), second.clone(), first.clone(), second.clone()]
        .into_iter()
        .enumerate()
    {
        let acme = acme.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..10u32 {
                log.append(
                    &acme,
                    sample_event(100 + j, None),
                    OffsetDateTime::now_utc(),
                )
                .await
                .unwrap_or_else(|e| panic!("writer {w}: {e}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    saboteur.await.unwrap();
    assert_gapless_and_verified(&first, &acme, 60).await;
    assert_gapless_and_verified(&second, &acme, 60).await;
}

#[tokio::test]
async fn a_missing_stale_or_wrong_hint_still_appends_correctly() {
    let (log, client) = audit(7).await;
    let acme = scope("acme");
    // The hint exists before the first event and follows the head.
    append_n(&log, &acme, 10).await;
    assert_eq!(hint(&client, "acme").await, Some(10));

    // Missing: found again from the start, and put back.
    set_hint(&client, "acme", None).await;
    append_n(&log, &acme, 1).await;
    assert_eq!(hint(&client, "acme").await, Some(11));

    // Stale: probed forward from it, and moved forward.
    set_hint(&client, "acme", Some(2)).await;
    assert_eq!(log.last(&acme).await.unwrap().map(|e| e.seq), Some(11));
    append_n(&log, &acme, 1).await;
    assert_eq!(hint(&client, "acme").await, Some(12));

    // Beyond the head (never written by the adapter): bisected back, and repaired.
    set_hint(&client, "acme", Some(1_000)).await;
    assert_eq!(log.last(&acme).await.unwrap().map(|e| e.seq), Some(12));
    append_n(&log, &acme, 1).await;
    assert_eq!(hint(&client, "acme").await, Some(13));

    // Zero (registered, never moved).
    set_hint(&client, "acme", Some(0)).await;
    append_n(&log, &acme, 1).await;
    assert_gapless_and_verified(&log, &acme, 14).await;
    assert_eq!(
        log.orgs_with_trails().await.unwrap(),
        vec![acme.org().clone()]
    );
}

/// Events, digests and hints are stored as the module documentation says, events in the
/// `(orgId, bucket)` logical partition named by their sequence number.
#[tokio::test]
async fn documents_have_the_documented_shape() {
    let (log, client) = audit(7).await;
    let acme = scope("acme");
    append_n(&log, &acme, 8).await;
    let events = raw(&client, AUDIT_CONTAINER).await;
    let eighth = log.read(&acme, 7, 1).await.unwrap().pop().unwrap();

    let doc: serde_json::Value = events
        .read_item(
            ("acme".to_owned(), "000001".to_owned()),
            "00000000000000000008",
            None,
        )
        .await
        .expect("event 8 in bucket 000001")
        .into_model()
        .unwrap();
    assert_eq!(doc["orgId"], "acme");
    assert_eq!(doc["bucket"], "000001");
    assert_eq!(doc["type"], "event");
    assert_eq!(doc["seq"], 8);
    assert_eq!(doc["eventId"], eighth.id.as_str());
    assert_eq!(doc["hash"], eighth.hash.as_str());
    assert_eq!(event_hash(&eighth), eighth.hash);
    // Not in another bucket's partition.
    assert!(
        events
            .read_item(
                ("acme".to_owned(), "000000".to_owned()),
                "00000000000000000008",
                None
            )
            .await
            .unwrap_err()
            .status()
            .is_not_found()
    );
    let bucket0: Vec<serde_json::Value> = events
        .query_items(
            "SELECT c.seq FROM c",
            FeedScope::partition(PartitionKey::from(("acme".to_owned(), "000000".to_owned()))),
            None,
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    // Bucket 0 holds 1..=6 (there is no event 0), bucket 1 holds 7..=13.
    assert_eq!(
        bucket0
            .iter()
            .map(|d| d["seq"].as_u64().unwrap())
            .collect::<std::collections::BTreeSet<_>>(),
        (1..=6).collect()
    );

    let (signer, _) = DigestSigner::generate();
    let d = signer.sign(&eighth, None, OffsetDateTime::now_utc());
    log.append_digest(&acme, d.clone()).await.unwrap();
    let digest: serde_json::Value = events
        .read_item(
            ("acme".to_owned(), "digests".to_owned()),
            "digest-00000000000000000001",
            None,
        )
        .await
        .expect("digest 1 in the digests partition")
        .into_model()
        .unwrap();
    assert_eq!(digest["type"], "digest");
    assert_eq!(digest["headSeq"], 8);
    assert_eq!(digest["signature"], d.signature.as_str());
    assert_eq!(log.last_digest(&acme).await.unwrap(), Some(d));

    let head: serde_json::Value = raw(&client, HEADS_CONTAINER)
        .await
        .read_item("acme".to_owned(), "acme", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        (
            head["id"].clone(),
            head["orgId"].clone(),
            head["seq"].clone()
        ),
        ("acme".into(), "acme".into(), 8.into())
    );
}

/// Reads return what is stored, gaps included, so a removed event (here the first of a bucket) is
/// reported by the verifier rather than hidden.
#[tokio::test]
async fn a_removed_event_is_reported_by_the_verifier() {
    let (log, client) = audit(7).await;
    let acme = scope("acme");
    append_n(&log, &acme, 10).await;
    raw(&client, AUDIT_CONTAINER)
        .await
        .delete_item(
            ("acme".to_owned(), "000001".to_owned()),
            "00000000000000000007",
            None,
        )
        .await
        .unwrap();
    let seqs: Vec<u64> = all(&log, &acme).await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 8, 9, 10]);
    let r = verify(&log, &acme, None, None, &DigestVerifier::default())
        .await
        .unwrap();
    assert_eq!(
        (r.first_bad_seq, r.failure),
        (Some(7), Some(Break::SequenceGap))
    );
}

#[tokio::test]
async fn health_reads_the_containers_and_reports_missing_ones() {
    let (log, _) = audit(7).await;
    assert_eq!(log.name(), "cosmos-audit");
    log.probe().await.unwrap();

    let bare = CosmosAudit::new(emulator::client().await);
    assert!(bare.probe().await.is_err());
    assert!(matches!(
        bare.append(
            &scope("acme"),
            sample_event(1, None),
            OffsetDateTime::now_utc()
        )
        .await,
        Err(PortError::Unavailable(_))
    ));
    assert!(matches!(
        bare.last(&scope("acme")).await,
        Err(PortError::Unavailable(_))
    ));
}
