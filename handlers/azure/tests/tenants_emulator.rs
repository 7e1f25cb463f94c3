//! The Cosmos DB org and API key stores against the Azure SDK's in-memory Cosmos emulator: the shared
//! port suites (the same ones the local store passes) plus the Cosmos-specific behaviour: document shape,
//! partition keys, true parallel races, and documents that disagree with themselves.
//!
//! The emulator is the SDK's internal test emulator, not the real service: it runs in-process behind
//! the real `CosmosClient`, so the adapter code is the production code. All emulator setup is in
//! `support/cosmos.rs`; key auth and container creation are test-only (production signs in with a
//! managed identity and infrastructure provisions the containers).

#[path = "support/cosmos.rs"]
mod emulator;

use std::collections::HashMap;

use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::{CosmosClient, FeedScope};
use clment_azure::cosmos::DEFAULT_DATABASE;
use clment_azure::tenants::{API_KEYS_CONTAINER, CosmosApiKeys, CosmosOrgs, ORGS_CONTAINER};
use clment_common::TenantScope;
use clment_common::access::{ApiScope, Role};
use clment_common::auth::api_key;
use clment_common::domain::{Region, UserId};
use clment_common::ports::{
    ApiKeyRecord, ApiKeyStore, HealthCheck, OrgStore, Plan, PortError, SecuritySettings,
    SignInMethod, StoredSecret, suite,
};
use futures_util::TryStreamExt as _;
use time::{Duration, OffsetDateTime};

fn scope(org: &str) -> TenantScope {
    TenantScope::for_tests(org, Region::Us)
}

async fn raw(client: &CosmosClient, container: &str) -> ContainerClient {
    client
        .database_client(DEFAULT_DATABASE)
        .container_client(container, None)
        .await
        .expect("container")
}

fn key(scope: &TenantScope) -> ApiKeyRecord {
    let now = OffsetDateTime::now_utc();
    let new = api_key::generate();
    ApiKeyRecord {
        id: new.id,
        org: scope.org().clone(),
        name: "ci".into(),
        scopes: vec![ApiScope::ContractsRead],
        created_by: UserId::parse("u1").unwrap(),
        creator_role: Role::Admin,
        created_at: now,
        expires_at: now + Duration::days(30),
        last_used_at: None,
        revoked_at: None,
        secrets: vec![StoredSecret {
            hash: new.hash,
            created_at: now,
            retires_at: None,
        }],
    }
}

#[tokio::test]
async fn orgs_meet_the_shared_org_store_suite() {
    let (orgs, _, _) = emulator::tenants().await;
    suite::org_store(&orgs).await;
}

#[tokio::test]
async fn api_keys_meet_the_shared_api_key_store_suite() {
    let (_, keys, _) = emulator::tenants().await;
    suite::api_key_store(&keys).await;
}

/// One document per org, `id` = `orgId` = the scope's org, in the org's own partition.
#[tokio::test]
async fn org_documents_have_the_documented_shape() {
    let (orgs, _, client) = emulator::tenants().await;
    let acme = scope("acme");
    let record = orgs
        .get_or_create(&acme, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let docs: Vec<serde_json::Value> = raw(&client, ORGS_CONTAINER)
        .await
        .query_items("SELECT * FROM c", FeedScope::full_container(), None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    assert_eq!(doc["id"], "acme");
    assert_eq!(doc["orgId"], "acme");
    assert_eq!(doc["plan"], "free");
    assert_eq!(doc["homeRegion"], "us");
    assert_eq!(
        doc["security"],
        serde_json::to_value(&record.security).unwrap()
    );
}

/// Partition key `/id`, `orgId` next to the record's `org`, and only hashes of secrets.
#[tokio::test]
async fn api_key_documents_are_partitioned_by_id_and_hold_only_hashes() {
    let (_, keys, client) = emulator::tenants().await;
    let acme = scope("acme");
    let new = api_key::generate();
    let mut record = key(&acme);
    record.id.clone_from(&new.id);
    record.secrets[0].hash = new.hash.clone();
    keys.insert(&acme, record.clone()).await.unwrap();

    // A point read with the key id as the partition key finds it.
    let doc: serde_json::Value = raw(&client, API_KEYS_CONTAINER)
        .await
        .read_item(record.id.clone(), &record.id, None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(doc["id"], record.id.as_str());
    assert_eq!(doc["orgId"], "acme");
    assert_eq!(doc["org"], "acme");
    let hash = doc["secrets"][0]["hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    // The whole key, and its secret part, appear nowhere in the document.
    use secrecy::ExposeSecret as _;
    let plain = new.plain.expose_secret();
    let secret_part = plain.rsplit('_').next().unwrap();
    let text = doc.to_string();
    assert!(!text.contains(plain) && !text.contains(secret_part));
}

/// A key document whose stored `orgId` and record `org` disagree (written by something other than
/// the adapter) is nobody's key: not readable, listable, replaceable or usable for sign-in.
#[tokio::test]
async fn a_key_document_naming_two_orgs_is_refused() {
    let (_, keys, client) = emulator::tenants().await;
    let (acme, globex) = (scope("acme"), scope("globex"));
    let record = key(&acme);
    let mut doc = serde_json::to_value(&record).unwrap();
    doc["orgId"] = "globex".into();
    raw(&client, API_KEYS_CONTAINER)
        .await
        .create_item(record.id.clone(), &record.id, &doc, None)
        .await
        .unwrap();
    for s in [&acme, &globex] {
        assert_eq!(keys.get(s, &record.id).await.unwrap(), None);
        assert!(keys.list(s).await.unwrap().is_empty());
        assert_eq!(
            keys.replace(s, record.clone()).await,
            Err(PortError::NotFound)
        );
    }
    assert_eq!(
        keys.find_for_authentication(&record.id).await.unwrap(),
        None
    );
}

/// Ids that are not document ids (path characters) are absent, never a request to somewhere else.
#[tokio::test]
async fn odd_key_ids_are_absent() {
    let (_, keys, _) = emulator::tenants().await;
    let acme = scope("acme");
    for id in ["../orgs/acme", "a/b", "a?b", "a#b", ""] {
        assert_eq!(keys.get(&acme, id).await.unwrap(), None, "{id:?}");
        assert_eq!(keys.find_for_authentication(id).await.unwrap(), None);
        keys.touch(id, OffsetDateTime::now_utc()).await.unwrap();
        let mut odd = key(&acme);
        odd.id = id.to_owned();
        assert!(matches!(
            keys.insert(&acme, odd.clone()).await,
            Err(PortError::Conflict(_))
        ));
        assert_eq!(keys.replace(&acme, odd).await, Err(PortError::NotFound));
    }
}

/// 16 tasks on 4 threads all see the first use of an org at once: one record, returned to all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_first_uses_store_one_org_record() {
    let (orgs, _, client) = emulator::tenants().await;
    let acme = scope("acme");
    let start = OffsetDateTime::now_utc();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (orgs, acme) = (orgs.clone(), acme.clone());
            tokio::spawn(async move {
                orgs.get_or_create(&acme, start + Duration::seconds(i))
                    .await
            })
        })
        .collect();
    let mut records = Vec::new();
    for t in tasks {
        records.push(t.await.unwrap().unwrap());
    }
    assert!(records.iter().all(|r| r == &records[0]));
    let docs: Vec<serde_json::Value> = raw(&client, ORGS_CONTAINER)
        .await
        .query_items("SELECT * FROM c", FeedScope::full_container(), None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(docs.len(), 1, "{docs:?}");
}

/// Parallel changes to one org are serialised by If-Match: every change succeeds, and each one's
/// `before` is exactly the previous one's `after`, so the writes form one chain with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_changes_form_one_chain() {
    let (orgs, _, _) = emulator::tenants().await;
    let acme = scope("acme");
    let start = OffsetDateTime::now_utc();
    let first = orgs.get_or_create(&acme, start).await.unwrap();
    let tasks: Vec<_> = (1..=6i64)
        .map(|i| {
            let (orgs, acme) = (orgs.clone(), acme.clone());
            tokio::spawn(async move {
                let at = start + Duration::seconds(i);
                if i % 2 == 0 {
                    orgs.set_plan(&acme, if i % 4 == 0 { Plan::Paid } else { Plan::Free }, at)
                        .await
                } else {
                    let settings = SecuritySettings {
                        allowed_sign_in_methods: vec![SignInMethod::Sso],
                        require_mfa: i % 3 == 0,
                        ..SecuritySettings::default()
                    };
                    orgs.update_security(&acme, settings.into(), at).await
                }
            })
        })
        .collect();
    let mut chain = HashMap::new();
    for t in tasks {
        let (before, after) = t.await.unwrap().unwrap();
        assert!(
            chain
                .insert(serde_json::to_string(&before).unwrap(), after)
                .is_none(),
            "two changes started from the same version"
        );
    }
    let mut current = first;
    for _ in 0..6 {
        current = chain
            .remove(&serde_json::to_string(&current).unwrap())
            .expect("every change follows the previous one");
    }
    assert_eq!(orgs.get_or_create(&acme, start).await.unwrap(), current);
}

#[tokio::test]
async fn health_reads_the_containers_and_reports_missing_ones() {
    let (orgs, keys, _) = emulator::tenants().await;
    assert_eq!(orgs.name(), "cosmos-orgs");
    assert_eq!(keys.name(), "cosmos-api-keys");
    orgs.probe().await.unwrap();
    keys.probe().await.unwrap();

    // An account without the containers: the adapters are built, but the probes and every operation
    // report the store unavailable.
    let bare = emulator::client().await;
    let (orgs, keys) = (CosmosOrgs::new(bare.clone()), CosmosApiKeys::new(bare));
    assert!(orgs.probe().await.is_err());
    assert!(keys.probe().await.is_err());
    assert!(matches!(
        orgs.get_or_create(&scope("acme"), OffsetDateTime::now_utc())
            .await,
        Err(PortError::Unavailable(_))
    ));
    assert!(matches!(
        keys.find_for_authentication("0123456789abcdef").await,
        Err(PortError::Unavailable(_))
    ));
}

/// Uses recorded in parallel with a revocation (on other threads) never write back the unrevoked
/// record: `touch` re-reads when the key changed under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_touches_never_undo_a_revocation() {
    let (_, keys, _) = emulator::tenants().await;
    let acme = scope("acme");
    for round in 0..40 {
        let k = key(&acme);
        keys.insert(&acme, k.clone()).await.unwrap();
        let revoked_at = k.created_at + Duration::minutes(1);
        let mut tasks: Vec<_> = (0..4)
            .map(|i| {
                let (keys, id) = (keys.clone(), k.id.clone());
                tokio::spawn(async move {
                    keys.touch(&id, OffsetDateTime::now_utc() + Duration::seconds(i))
                        .await
                })
            })
            .collect();
        let revoke = {
            let (keys, acme) = (keys.clone(), acme.clone());
            let revoked = ApiKeyRecord {
                revoked_at: Some(revoked_at),
                ..k.clone()
            };
            tokio::spawn(async move { keys.replace(&acme, revoked).await })
        };
        tasks.push(revoke);
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let stored = keys.get(&acme, &k.id).await.unwrap().unwrap();
        assert_eq!(
            stored.revoked_at,
            Some(revoked_at),
            "round {round}: a touch undid the revocation"
        );
    }
}
