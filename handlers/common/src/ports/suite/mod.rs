//! Port contract suites: the behaviour every adapter of a port must show, written once and run
//! against each backend (local in its crate, Azure against the emulators). Test support only.

mod audit;
mod reviews;
mod search;
mod tenants;

pub use audit::*;
pub use reviews::*;
pub use search::*;
pub use tenants::*;

use futures_util::StreamExt as _;
use time::OffsetDateTime;

use super::{
    ContractRecord, ContractStatus, ContractStore, Created, DocumentStore, PortError, StoredBlob,
};
use crate::TenantScope;
use crate::domain::{ContractId, OrgId, Region, UserId};

async fn read_all(
    store: &dyn DocumentStore,
    scope: &TenantScope,
    id: ContractId,
) -> Option<Vec<u8>> {
    let mut stream = store.open(scope, id).await.expect("open")?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    Some(out)
}

async fn put(
    store: &dyn DocumentStore,
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

/// Every original `sweep` lists from the start, in order, checking the page shape on the way.
async fn sweep_all(store: &dyn DocumentStore, limit: usize) -> Vec<StoredBlob> {
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..10_000 {
        let page = store.sweep(after, limit).await.expect("sweep");
        assert!(
            page.blobs.len() <= limit,
            "a page holds more than its limit"
        );
        out.extend(page.blobs);
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
    panic!("the sweep never ends");
}

/// The sweep: every committed original of every org exactly once across small pages, with a plausible
/// last-modified time; nothing aborted or deleted. The store may hold other originals (shared emulators).
async fn sweeps(store: &dyn DocumentStore, acme: &TenantScope, globex: &TenantScope) {
    // Second precision and some clock skew between the test and the service.
    let before = OffsetDateTime::now_utc() - time::Duration::minutes(2);
    let mut planted = Vec::new();
    for (scope, n) in [(acme, 3), (globex, 2)] {
        for _ in 0..n {
            let id = ContractId::new();
            put(store, scope, id, b"swept", 2).await.expect("commit");
            planted.push((scope.org().clone(), id));
        }
    }
    let aborted = ContractId::new();
    let mut w = store.begin(acme, aborted).await.expect("begin");
    w.write(b"never committed").await.expect("write");
    w.abort().await;
    let deleted = ContractId::new();
    put(store, acme, deleted, b"deleted", 2)
        .await
        .expect("commit");
    store.delete(acme, deleted).await.expect("delete");
    let after = OffsetDateTime::now_utc() + time::Duration::minutes(2);

    for limit in [1, 2, 1000] {
        let listed = sweep_all(store, limit).await;
        for (org, id) in &planted {
            let found: Vec<_> = listed
                .iter()
                .filter(|b| &b.org == org && b.id == *id)
                .collect();
            assert_eq!(
                found.len(),
                1,
                "{org}/{id} listed {} times (limit {limit})",
                found.len()
            );
            assert!(
                (before..after).contains(&found[0].last_modified),
                "implausible last-modified {}",
                found[0].last_modified
            );
        }
        assert!(
            !listed.iter().any(|b| b.id == aborted || b.id == deleted),
            "an aborted or deleted original was swept"
        );
    }
    for (org, id) in &planted {
        let scope = if org == acme.org() { acme } else { globex };
        store.delete(scope, *id).await.expect("cleanup");
    }
    let listed = sweep_all(store, 1000).await;
    assert!(
        !planted
            .iter()
            .any(|(org, id)| listed.iter().any(|b| &b.org == org && b.id == *id)),
        "a deleted original is still swept"
    );
}

/// Every `DocumentStore` adapter: round trips (each of `files`, written in odd-sized chunks), conditional
/// create, abort, missing reads, idempotent delete, org isolation, and the reconciler's sweep.
///
/// # Panics
/// When the adapter misbehaves.
pub async fn document_store(store: &dyn DocumentStore, files: &[Vec<u8>]) {
    let acme = TenantScope::for_tests("suite-acme", Region::Us);
    let globex = TenantScope::for_tests("suite-globex", Region::Us);
    for (i, bytes) in files.iter().enumerate() {
        let id = ContractId::new();
        let size = put(store, &acme, id, bytes, 7919 + i * 1013)
            .await
            .expect("commit");
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(
            read_all(store, &acme, id).await.as_deref(),
            Some(bytes.as_slice()),
            "file {i} differs"
        );
        // Another org's scope does not see it.
        assert!(
            read_all(store, &globex, id).await.is_none(),
            "file {i} visible to another org"
        );
        assert!(
            !store.delete(&globex, id).await.expect("delete"),
            "another org deleted file {i}"
        );
        assert!(store.delete(&acme, id).await.expect("delete"));
    }
    // Conditional create: a second commit for the same id fails and leaves the first content.
    let id = ContractId::new();
    put(store, &acme, id, b"first", 3)
        .await
        .expect("first commit");
    let second = put(store, &acme, id, b"second", 3).await;
    assert!(matches!(second, Err(PortError::Conflict(_))), "{second:?}");
    assert_eq!(
        read_all(store, &acme, id).await.as_deref(),
        Some(&b"first"[..])
    );
    // Delete is idempotent; reads of a missing original are None.
    assert!(store.delete(&acme, id).await.expect("delete"));
    assert!(!store.delete(&acme, id).await.expect("delete again"));
    assert!(read_all(store, &acme, id).await.is_none());
    // Abort publishes nothing.
    let id = ContractId::new();
    let mut w = store.begin(&acme, id).await.expect("begin");
    w.write(b"never committed").await.expect("write");
    w.abort().await;
    assert!(read_all(store, &acme, id).await.is_none());
    // The same id in two orgs is two originals.
    let id = ContractId::new();
    put(store, &acme, id, b"acme's", 4).await.expect("acme");
    put(store, &globex, id, b"globex's", 4)
        .await
        .expect("globex");
    assert_eq!(
        read_all(store, &acme, id).await.as_deref(),
        Some(&b"acme's"[..])
    );
    assert_eq!(
        read_all(store, &globex, id).await.as_deref(),
        Some(&b"globex's"[..])
    );
    store.delete(&acme, id).await.expect("cleanup");
    store.delete(&globex, id).await.expect("cleanup");
    sweeps(store, &acme, &globex).await;
}

fn record(org: &str, key: Option<&str>) -> ContractRecord {
    let now = OffsetDateTime::now_utc();
    ContractRecord {
        id: ContractId::new(),
        org: OrgId::parse(org).expect("org"),
        title: "t".into(),
        file_name: "t.pdf".into(),
        content_type: "application/pdf".into(),
        size: 1,
        sha256: "00".into(),
        status: ContractStatus::Pending,
        failure: None,
        created_by: UserId::parse("u").expect("user"),
        created_at: now,
        updated_at: now,
        idempotency_key: key.map(str::to_owned),
    }
}

/// Every `ContractStore` adapter: idempotent create, org isolation, newest-first pagination, optimistic
/// replace, `deleting` hidden from lists, the reconciler's stale `deleting` records, removal freeing the
/// idempotency key.
///
/// # Panics
/// When the adapter misbehaves.
pub async fn contract_store(s: &dyn ContractStore) {
    let acme = TenantScope::for_tests("suite-acme", Region::Us);
    let globex = TenantScope::for_tests("suite-globex", Region::Us);
    let a = record("suite-acme", Some("k1"));
    assert!(matches!(
        s.create(&acme, a.clone()).await.expect("create"),
        Created::New(_)
    ));
    let again = record("suite-acme", Some("k1"));
    assert_eq!(
        s.create(&acme, again).await.expect("retry"),
        Created::Existing(a.clone())
    );
    assert!(matches!(
        s.create(&globex, record("suite-globex", Some("k1")))
            .await
            .expect("other org"),
        Created::New(_)
    ));
    assert!(
        s.create(&acme, record("suite-globex", None)).await.is_err(),
        "a record of another org was stored"
    );
    // Usage counts the org's own records only.
    let mut want = super::ContractUsage::default();
    want.add_record(&a);
    assert_eq!(s.usage(&acme).await.expect("usage"), want);
    assert_eq!(s.usage(&globex).await.expect("usage").count, 1);
    assert_eq!(
        s.get(&globex, a.id).await.expect("get"),
        None,
        "another org read the record"
    );
    assert!(
        !s.remove(&globex, a.id).await.expect("remove"),
        "another org removed the record"
    );
    let dup = a.clone();
    assert!(matches!(
        s.create(
            &acme,
            ContractRecord {
                idempotency_key: None,
                ..dup
            }
        )
        .await,
        Err(PortError::Conflict(_))
    ));

    let mut ids = vec![a.id];
    for _ in 0..4 {
        let r = record("suite-acme", None);
        ids.push(r.id);
        s.create(&acme, r).await.expect("create");
    }
    let page1 = s.list(&acme, 3, None).await.expect("page 1");
    let page2 = s
        .list(&acme, 3, Some(page1.last().expect("item").id))
        .await
        .expect("page 2");
    let listed: Vec<_> = page1.iter().chain(&page2).map(|r| r.id).collect();
    ids.reverse();
    assert_eq!(listed, ids, "newest first, no gaps or repeats across pages");

    let mut renamed = a.clone();
    renamed.title = "new".into();
    renamed.updated_at = a.updated_at + time::Duration::milliseconds(1);
    s.replace(&acme, renamed.clone(), a.updated_at)
        .await
        .expect("replace");
    assert!(matches!(
        s.replace(&acme, renamed.clone(), a.updated_at).await,
        Err(PortError::Conflict(_))
    ));
    assert!(matches!(
        s.replace(&globex, renamed.clone(), renamed.updated_at)
            .await,
        Err(PortError::NotFound | PortError::Conflict(_))
    ));
    assert_eq!(
        s.get(&acme, a.id).await.expect("get").expect("found").title,
        "new"
    );

    let mut deleting = renamed.clone();
    deleting.status = ContractStatus::Deleting;
    deleting.updated_at = renamed.updated_at + time::Duration::milliseconds(1);
    s.replace(&acme, deleting.clone(), renamed.updated_at)
        .await
        .expect("mark deleting");
    assert!(
        s.list(&acme, 100, None)
            .await
            .expect("list")
            .iter()
            .all(|r| r.id != a.id),
        "deleting is listed"
    );
    assert_eq!(
        s.get(&acme, a.id).await.expect("get").map(|r| r.status),
        Some(ContractStatus::Deleting)
    );
    stale_deletes(s, &globex, &deleting).await;

    assert!(s.remove(&acme, a.id).await.expect("remove"));
    assert!(!s.remove(&acme, a.id).await.expect("remove again"));
    assert!(matches!(
        s.create(&acme, record("suite-acme", Some("k1")))
            .await
            .expect("key freed"),
        Created::New(_)
    ));
}

/// `stale_deleting`: only `deleting` records, of every org, last updated strictly before the cutoff,
/// at most `limit`, and no longer once removed. `marked` is a `deleting` record (of another org) updated
/// just now.
async fn stale_deletes(s: &dyn ContractStore, globex: &TenantScope, marked: &ContractRecord) {
    let key = |r: &ContractRecord| (r.org.clone(), r.id);
    let stale = |older_than: OffsetDateTime, limit: usize| async move {
        s.stale_deleting(older_than, limit)
            .await
            .expect("stale deleting")
    };
    // A record marked an hour ago in the other org; a live one that is old.
    let hour_ago = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let mut old = record("suite-globex", None);
    old.created_at = hour_ago;
    old.updated_at = hour_ago;
    s.create(globex, old.clone()).await.expect("create");
    let mut old_deleting = old.clone();
    old_deleting.status = ContractStatus::Deleting;
    s.replace(globex, old_deleting.clone(), old.updated_at)
        .await
        .expect("mark deleting");
    let mut live = record("suite-globex", None);
    live.created_at = hour_ago;
    live.updated_at = hour_ago;
    s.create(globex, live.clone()).await.expect("create");

    let future = marked.updated_at + time::Duration::seconds(1);
    let mut all = stale(future, 100).await;
    all.sort();
    let mut expected = vec![key(marked), key(&old_deleting)];
    expected.sort();
    assert_eq!(
        all, expected,
        "every stale delete of every org, nothing else"
    );
    assert_eq!(stale(future, 1).await.len(), 1, "the limit is kept");
    assert!(stale(future, 0).await.is_empty());
    assert_eq!(
        stale(marked.updated_at, 100).await,
        vec![key(&old_deleting)],
        "the cutoff is exclusive"
    );
    assert_eq!(
        stale(hour_ago + time::Duration::minutes(30), 100).await,
        vec![key(&old_deleting)]
    );
    assert!(
        stale(hour_ago - time::Duration::minutes(30), 100)
            .await
            .is_empty()
    );
    assert!(s.remove(globex, old.id).await.expect("remove"));
    assert!(s.remove(globex, live.id).await.expect("remove"));
    assert_eq!(stale(future, 100).await, vec![key(marked)]);
}
