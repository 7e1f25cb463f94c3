//! The `ReviewStore` contract.

use time::OffsetDateTime;

use crate::TenantScope;
use crate::domain::{ContractId, OrgId, Region, ReviewId};
use crate::ports::{Actor, PortError, ReviewCreated, ReviewStore};
use crate::review::{
    Excerpt, Finding, KeyDates, Minimisation, ReviewRecord, ReviewResult, ReviewStatus, TokenUsage,
};

fn review(org: &str, contract: ContractId) -> ReviewRecord {
    let now = OffsetDateTime::now_utc();
    ReviewRecord {
        id: ReviewId::new(),
        org: OrgId::parse(org).expect("org"),
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

fn result(contract: ContractId) -> ReviewResult {
    ReviewResult {
        provider: "offline".into(),
        model: None,
        summary: "One category found.".into(),
        key_dates: KeyDates::default(),
        categories: vec![Finding {
            category: "governing-law".into(),
            name: "Governing Law".into(),
            present: true,
            excerpts: vec![Excerpt {
                text: "governed by the laws of Delaware — ünïcode".into(),
                start: 10,
                end: 52,
                page: 1,
                chunk: format!("{contract}-0"),
            }],
            answer: None,
            risk: None,
        }],
        dropped_quotes: 1,
        minimisation: Minimisation::default(),
        // Non-zero, so a store that drops the counts fails the usage check below.
        usage: TokenUsage {
            calls: 2,
            prompt_tokens: 1234,
            completion_tokens: 56,
        },
    }
}

/// Every `ReviewStore` adapter: create once, get within the org only, newest-first pages, optimistic
/// replace (stale writes conflict, a completed result round-trips exactly), single and per-contract
/// deletes.
///
/// # Panics
/// When the adapter misbehaves.
pub async fn review_store(s: &dyn ReviewStore) {
    let acme = TenantScope::for_tests("suite-acme", Region::Us);
    let globex = TenantScope::for_tests("suite-globex", Region::Us);
    let contract = ContractId::new();
    let other_contract = ContractId::new();

    let mut made = Vec::new();
    for _ in 0..5 {
        let r = review("suite-acme", contract);
        s.create(&acme, &r).await.expect("create");
        made.push(r);
    }
    let elsewhere = review("suite-acme", other_contract);
    s.create(&acme, &elsewhere).await.expect("create");
    assert!(matches!(
        s.create(&acme, &made[0]).await,
        Err(PortError::Conflict(_))
    ));

    // Reads are scoped to the org and the contract.
    assert_eq!(
        s.get(&acme, contract, made[0].id).await.expect("get"),
        Some(made[0].clone())
    );
    assert_eq!(
        s.get(&globex, contract, made[0].id).await.expect("get"),
        None
    );
    assert_eq!(
        s.get(&acme, other_contract, made[0].id).await.expect("get"),
        None
    );

    // Newest first, in pages.
    let first = s.list(&acme, contract, 3, None).await.expect("list");
    let ids: Vec<_> = first.iter().map(|r| r.id).collect();
    let mut expected: Vec<_> = made.iter().map(|r| r.id).collect();
    expected.reverse();
    assert_eq!(ids, expected[..3]);
    let rest = s
        .list(&acme, contract, 3, Some(ids[2]))
        .await
        .expect("list");
    assert_eq!(rest.iter().map(|r| r.id).collect::<Vec<_>>(), expected[3..]);
    assert!(
        s.list(&globex, contract, 10, None)
            .await
            .expect("list")
            .is_empty()
    );

    // Optimistic replace: the result round-trips; a stale write conflicts; another org cannot write.
    let mut done = made[0].clone();
    done.status = ReviewStatus::Completed;
    done.updated_at = made[0].updated_at + time::Duration::milliseconds(5);
    done.completed_at = Some(done.updated_at);
    done.result = Some(result(contract));
    s.replace(&acme, &done, made[0].updated_at)
        .await
        .expect("replace");
    assert_eq!(
        s.get(&acme, contract, done.id).await.expect("get"),
        Some(done.clone())
    );
    // Usage: every review of the org by status, tokens from completed results; another org's none.
    let mut want = crate::ports::ReviewUsage::default();
    want.add(done.status, done.result.as_ref().map(|r| &r.usage));
    for r in made[1..].iter().chain([&elsewhere]) {
        want.add(r.status, None);
    }
    assert_eq!(want.prompt_tokens, 1234);
    assert_eq!(s.usage(&acme).await.expect("usage"), want);
    assert_eq!(
        s.usage(&globex).await.expect("usage"),
        crate::ports::ReviewUsage::default()
    );
    assert!(matches!(
        s.replace(&acme, &done, made[0].updated_at).await,
        Err(PortError::Conflict(_))
    ));
    assert!(s.replace(&globex, &done, done.updated_at).await.is_err());
    let gone = review("suite-acme", contract);
    assert!(matches!(
        s.replace(&acme, &gone, gone.updated_at).await,
        Err(PortError::NotFound)
    ));

    // Deletes.
    assert!(
        !s.delete(&globex, contract, made[1].id)
            .await
            .expect("delete")
    );
    assert!(s.delete(&acme, contract, made[1].id).await.expect("delete"));
    assert!(!s.delete(&acme, contract, made[1].id).await.expect("again"));
    assert_eq!(s.get(&acme, contract, made[1].id).await.expect("get"), None);
    assert_eq!(
        s.delete_for_contract(&globex, contract)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        s.delete_for_contract(&acme, contract).await.expect("purge"),
        4
    );
    assert!(
        s.list(&acme, contract, 10, None)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        s.list(&acme, other_contract, 10, None)
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        s.delete_for_contract(&acme, other_contract)
            .await
            .expect("cleanup"),
        1
    );

    // Idempotency: a second create with the key stores nothing and returns the first review.
    let keyed_contract = ContractId::new();
    let keyed = |org: &str| ReviewRecord {
        idempotency_key: Some("suite-retry-1".into()),
        ..review(org, keyed_contract)
    };
    let first = keyed("suite-acme");
    assert_eq!(
        s.create(&acme, &first).await.expect("create"),
        ReviewCreated::New
    );
    let retry = keyed("suite-acme");
    assert_eq!(
        s.create(&acme, &retry).await.expect("retry"),
        ReviewCreated::Existing(Box::new(first.clone()))
    );
    assert_eq!(
        s.get(&acme, keyed_contract, retry.id).await.expect("get"),
        None
    );
    assert_eq!(
        s.list(&acme, keyed_contract, 10, None)
            .await
            .expect("list")
            .len(),
        1
    );
    // Keys are per org.
    let theirs = keyed("suite-globex");
    assert_eq!(
        s.create(&globex, &theirs).await.expect("create"),
        ReviewCreated::New
    );
    // A replace cannot give a review another key; dropping its key frees the key while the review
    // stays, and a retry then stores a new review.
    let renamed = ReviewRecord {
        idempotency_key: Some("suite-retry-2".into()),
        ..first.clone()
    };
    assert!(matches!(
        s.replace(&acme, &renamed, first.updated_at).await,
        Err(PortError::Conflict(_))
    ));
    let dropped = ReviewRecord {
        idempotency_key: None,
        updated_at: first.updated_at + time::Duration::seconds(1),
        ..first.clone()
    };
    s.replace(&acme, &dropped, first.updated_at)
        .await
        .expect("drop the key");
    let asked_again = keyed("suite-acme");
    assert_eq!(
        s.create(&acme, &asked_again).await.expect("create"),
        ReviewCreated::New
    );
    assert_eq!(
        s.create(&acme, &keyed("suite-acme")).await.expect("retry"),
        ReviewCreated::Existing(Box::new(asked_again.clone()))
    );
    assert_eq!(
        s.get(&acme, keyed_contract, first.id).await.expect("get"),
        Some(dropped.clone())
    );
    // Deleting the review that dropped the key leaves the key with the new one.
    assert!(
        s.delete(&acme, keyed_contract, first.id)
            .await
            .expect("delete")
    );
    assert_eq!(
        s.create(&acme, &keyed("suite-acme")).await.expect("retry"),
        ReviewCreated::Existing(Box::new(asked_again.clone()))
    );
    assert!(
        s.delete(&acme, keyed_contract, asked_again.id)
            .await
            .expect("delete")
    );
    let first = keyed("suite-acme");
    assert_eq!(
        s.create(&acme, &first).await.expect("create"),
        ReviewCreated::New
    );
    // Deleting the review frees its key; so does purging the contract.
    assert!(
        s.delete(&acme, keyed_contract, first.id)
            .await
            .expect("delete")
    );
    assert_eq!(
        s.create(&acme, &retry).await.expect("create"),
        ReviewCreated::New
    );
    assert_eq!(
        s.delete_for_contract(&acme, keyed_contract)
            .await
            .expect("purge"),
        1
    );
    let later = keyed("suite-acme");
    assert_eq!(
        s.create(&acme, &later).await.expect("create"),
        ReviewCreated::New
    );
    // Usage counts reviews only, never the keys' bookkeeping.
    assert_eq!(s.usage(&acme).await.expect("usage").count, 1);
    assert_eq!(
        s.delete_for_contract(&acme, keyed_contract)
            .await
            .expect("cleanup"),
        1
    );
    assert_eq!(
        s.delete_for_contract(&globex, keyed_contract)
            .await
            .expect("cleanup"),
        1
    );
}
